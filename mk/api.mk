# API code generation: deepcopy functions and CRD schemas with controller-gen,
# built from its own tools module so its dependencies stay out of go.mod.
CONTROLLER_GEN := $(BIN)/controller-gen
CRD_DIR := charts/quiesce/crds

$(CONTROLLER_GEN): tools/controller-gen/go.mod
	cd tools/controller-gen && $(GO) build -o ../../$(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: generate verify-generate
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=$(CRD_DIR)

# verify-generate fails when the committed generated files are stale.
verify-generate: generate
	@git diff --exit-code -- api $(CRD_DIR) || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }
