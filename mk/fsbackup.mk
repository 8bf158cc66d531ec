# fsbackup: volume backup benchmark (results: docs/benchmarks.md).
# BENCH_FS_FLAGS="-small 500 -large-mb 20 -many 2000 -freeze-mb 200 -db-mb 64" makes a quick smoke run.
BENCH_FS_WORK ?= /var/tmp/quiesce-bench
BENCH_FS_FLAGS ?=

.PHONY: bench-fs bench-fs-tools
bench-fs-tools: build
	cd tools/kopia && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(BIN)/kopia .
	$(GO) build -o $(BIN)/bench-fs ./bench/fs

bench-fs: bench-fs-tools
	@command -v restic >/dev/null || { echo "restic not installed (hack/install-deps.sh)"; exit 1; }
	nice -n 10 $(BIN)/bench-fs -work $(BENCH_FS_WORK) -quiesce $(BIN)/quiesce -kopia $(BIN)/kopia \
		-out $(BENCH_FS_WORK)/report.md $(BENCH_FS_FLAGS)
