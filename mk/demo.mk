# make demo: local cluster, chart installed, annotated sample apps backed up
# and described (hack/demo.sh; root on Debian). REPO=s3: the repository is a
# bucket of a real S3 server (SeaweedFS over TLS, hack/demo-s3.sh).
REPO ?= filesystem
.PHONY: demo
demo:
	DEMO_REPO=$(REPO) hack/demo.sh
