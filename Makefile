# quiesce Makefile. Component-specific targets live in mk/*.mk.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN := bin
LDFLAGS := -s -w -X main.version=$(VERSION)
# Packages run by `make test`. Integration tests need root: they start their
# own containerd (cri/) and repositories (fsbackup/) under temp directories.
TEST_FLAGS ?= -count=1 -timeout 45m

.PHONY: all build test unit lint bench clean
all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/quiesce ./cmd/quiesce

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# unit: fast tests only (no root, no containerd, no cluster).
unit:
	$(GO) test -short $(TEST_FLAGS) ./...

# test: everything: lint, generated files, chart, unit, integration (real
# containerd + runc, real kopia repositories) and e2e on the local two-node
# cluster (brought up, or reused, first; left running: make cluster-down).
# cluster-up comes before images: it replaces a dead cluster, and images
# are then imported into the running nodes.
test: lint verify-generate chart-lint build weed
	$(MAKE) cluster-up
	$(MAKE) images
	QUIESCE_INTEGRATION=1 QUIESCE_E2E=1 QUIESCE_E2E_NO_UP=1 KUBECONFIG=$(CLUSTER_KUBECONFIG) HELM=$(CURDIR)/$(HELM) \
		$(GO) test $(TEST_FLAGS) ./...

# bench: benchmarks report same-run ratios against a baseline (docs/benchmarks.md).
bench: bench-fs

clean:
	rm -rf $(BIN)

-include mk/*.mk
