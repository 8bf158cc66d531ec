# make demo: local cluster, chart installed, annotated sample apps backed up
# and described (hack/demo.sh; root on Debian).
.PHONY: demo
demo:
	hack/demo.sh
