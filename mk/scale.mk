# scale: the control-plane scale benchmark (issue 15; results: docs/benchmarks.md).
# A fresh etcd + kube-apiserver per case on loopback (etcd 127.0.0.1:23790,
# API server 127.0.0.1:16443), simulated nodes and agents, the real
# coordinator as a child process. Not part of `make test`: its short version
# (200 pods / 20 nodes) is bench/simcluster's integration test.
BENCH_SCALE_WORK ?= /tmp/scale-bench
BENCH_SCALE_FLAGS ?=

.PHONY: bench-scale
bench-scale: build
	$(GO) build -o $(BIN)/bench-scale ./bench/scale
	$(BIN)/bench-scale -work $(BENCH_SCALE_WORK) -quiesce $(BIN)/quiesce -out $(BENCH_SCALE_WORK)/report.md $(BENCH_SCALE_FLAGS)
