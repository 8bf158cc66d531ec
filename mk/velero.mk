# bench-velero: quiesce side by side with Velero on the local cluster, in one
# run, on the same pods and the same Velero manifests (issue 17; tables in
# docs/benchmarks.md and docs/velero-compatibility.md). Not part of make
# test: a cold run builds Velero (~6 min of 2 cores), SeaweedFS and the
# images, then takes ~15 min.
#
# Velero v1.18.3, its AWS plugin v1.14.3 and the plugin's copy helper come
# from the module proxy (tools/velero; no release binary or image can be
# downloaded here), into .cache/velero/bin; hack/images/velero.sh turns them
# into images FROM scratch in .cache/velero/images (kept out of
# .cache/images, which make images imports everywhere). The quiesce image
# is tagged :bench-velero for the same reason. BENCH_VELERO_NO_UP=1 skips
# cluster-up (a cluster someone else runs).
VELERO_VERSION := v1.18.3
VELERO_DIR := .cache/velero
VELERO_BIN := $(VELERO_DIR)/bin
VELERO_IMAGES := $(VELERO_DIR)/images
BENCH_VELERO_IMAGE ?= docker.io/quiesce/quiesce:bench-velero
BENCH_VELERO_FLAGS ?=
BENCH_VELERO_NO_UP ?=

VELERO_PKGS := github.com/vmware-tanzu/velero/cmd/velero github.com/vmware-tanzu/velero/cmd/velero-helper \
	github.com/vmware-tanzu/velero/cmd/velero-restore-helper \
	github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws \
	github.com/vmware-tanzu/velero-plugin-for-aws/hack/cp-plugin

$(VELERO_BIN)/.built: tools/velero/go.mod tools/velero/go.sum
	mkdir -p $(VELERO_BIN)
	cd tools/velero && CGO_ENABLED=0 $(GO) build -trimpath \
	  -ldflags '-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$(VELERO_VERSION)' \
	  -o $(CURDIR)/$(VELERO_BIN)/ $(VELERO_PKGS)
	touch $@

$(VELERO_IMAGES)/velero.tar: $(VELERO_BIN)/.built hack/images/velero.sh
	hack/images/velero.sh $(VELERO_BIN) $(VELERO_IMAGES)

.PHONY: velero-bins velero-images bench-velero
velero-bins: $(VELERO_BIN)/.built
velero-images: $(VELERO_IMAGES)/velero.tar

bench-velero: build helm weed velero-images
	[ "$(BENCH_VELERO_NO_UP)" = 1 ] || $(MAKE) cluster-up
	$(MAKE) image IMAGE=$(BENCH_VELERO_IMAGE) IMAGES_DIR=$(CURDIR)/$(VELERO_IMAGES)
	hack/cluster/load-images.sh $(VELERO_IMAGES)/*.tar
	$(GO) build -o $(BIN)/bench-velero ./bench/velero
	$(BIN)/bench-velero -kubeconfig $(CLUSTER_KUBECONFIG) -kubectl $$(ls -d .cache/k8s/*/bin/kubectl | tail -n1) \
	  -helm $(HELM) -quiesce $(BIN)/quiesce -velero $(VELERO_BIN)/velero -weed $(WEED) \
	  -quiesce-image $(BENCH_VELERO_IMAGE) -work $(VELERO_DIR)/run -compat $(BENCH_VELERO_FLAGS)
