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

# test: everything, integration and e2e included (see README).
test: lint verify-generate chart-lint build
	QUIESCE_INTEGRATION=1 HELM=$(CURDIR)/$(HELM) $(GO) test $(TEST_FLAGS) ./...

bench:
	@echo "benchmarks: see bench-* targets"

clean:
	rm -rf $(BIN)

-include mk/*.mk
