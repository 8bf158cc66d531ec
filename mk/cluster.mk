# Local two-node Kubernetes cluster for e2e tests and the demo (e2e/README.md).
CLUSTER_KUBECONFIG := $(CURDIR)/.cache/cluster/admin.kubeconfig
IMAGE ?= docker.io/quiesce/quiesce:dev
IMAGES_DIR := $(CURDIR)/.cache/images
BUILDAH := buildah --storage-driver vfs
E2E_FLAGS ?= -count=1 -timeout 20m -v

.PHONY: k8s-bins cluster-up cluster-down image images test-e2e test-faults

# k8s-bins: kube-* binaries from tools/k8s into .cache/k8s/<version>/bin (cached).
k8s-bins:
	hack/cluster/build-k8s.sh

cluster-up:
	hack/cluster/up.sh

cluster-down:
	hack/cluster/down.sh

# image: the project's Dockerfile, built offline with buildah: every FROM is
# local, the module cache is mounted read-only (build fills it first), the Go
# build cache persists.
image: build
	hack/images/golang.sh
	mkdir -p $(IMAGES_DIR) .cache/image-gocache
	BUILDAH_ISOLATION=chroot $(BUILDAH) bud --isolation chroot --pull=false -q \
	  --build-arg GO_IMAGE=docker.io/library/golang:local --build-arg VERSION=$(VERSION) \
	  --build-arg GOPROXY=off --build-arg GOFLAGS=-mod=readonly --build-arg GOCACHE=/gocache \
	  -v $$($(GO) env GOMODCACHE):/go/pkg/mod:ro -v $(CURDIR)/.cache/image-gocache:/gocache \
	  -t $(IMAGE) -f Dockerfile .
	rm -f $(IMAGES_DIR)/quiesce.tar
	$(BUILDAH) push -q $(IMAGE) oci-archive:$(IMAGES_DIR)/quiesce.tar:$(IMAGE)
	@echo "$(IMAGES_DIR)/quiesce.tar: $(IMAGE)"

# images: every image the cluster uses, imported into each running node.
images: image
	hack/images/busybox.sh $(IMAGES_DIR)/busybox.tar
	hack/images/pause.sh $(IMAGES_DIR)/pause.tar
	hack/images/gobin.sh ./e2e/incluster docker.io/quiesce/e2e-incluster:local $(IMAGES_DIR)/e2e-incluster.tar
	hack/images/gobin.sh ./e2e/writer docker.io/quiesce/e2e-writer:local $(IMAGES_DIR)/e2e-writer.tar
	hack/images/dbimage.sh postgres $(IMAGES_DIR)/postgres.tar
	hack/images/csi.sh $(IMAGES_DIR)/quiesce-csi.tar
	hack/cluster/load-images.sh

# csi-image: only the test CSI driver's image (hack/csi, e2e/csi_test.go),
# imported into the running nodes.
.PHONY: csi-image
csi-image:
	hack/images/csi.sh $(IMAGES_DIR)/quiesce-csi.tar
	hack/cluster/load-images.sh $(IMAGES_DIR)/quiesce-csi.tar

# test-e2e: brings the cluster up (or reuses it) and runs the e2e tests on it
# (bin/quiesce is the CLI some tests drive).
test-e2e: build helm
	$(MAKE) cluster-up
	$(MAKE) images
	QUIESCE_E2E=1 QUIESCE_E2E_NO_UP=1 KUBECONFIG=$(CLUSTER_KUBECONFIG) $(GO) test $(E2E_FLAGS) ./e2e/...

# test-faults: the whole fault matrix (e2e/faults_test.go: each fault on
# real processes at each point of a freeze; make test runs four cells) and
# its table in docs/reliability.md.
test-faults: build helm
	$(MAKE) cluster-up
	$(MAKE) images
	QUIESCE_E2E=1 QUIESCE_E2E_NO_UP=1 QUIESCE_FAULTS=all QUIESCE_FAULTS_REPORT=$(CURDIR)/docs/reliability.md \
		KUBECONFIG=$(CLUSTER_KUBECONFIG) $(GO) test -count=1 -timeout 60m -v -run 'TestFaultMatrix' ./e2e/

# bench-hooks: no-op hook latency, agent (containerd) vs CRI ExecSync vs
# API-server exec, quiet and busy (results in docs/benchmarks.md).
.PHONY: bench-hooks
bench-hooks: build
	$(MAKE) cluster-up
	$(MAKE) images
	$(GO) build -o $(BIN)/bench-hooks ./bench/hooks
	$(BIN)/bench-hooks -kubeconfig $(CLUSTER_KUBECONFIG)
