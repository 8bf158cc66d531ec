# CRI hook runner: cri/, hookrun/, and `quiesce hooks test`. Integration
# tests start their own containerd + runc under temp dirs (root needed).
.PHONY: test-cri
test-cri:
	QUIESCE_INTEGRATION=1 $(GO) test $(TEST_FLAGS) ./cri/... ./hookrun/... ./internal/testenv/...
	QUIESCE_INTEGRATION=1 $(GO) test $(TEST_FLAGS) -run 'HooksTest' ./cmd/quiesce
