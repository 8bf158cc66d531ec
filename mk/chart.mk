# Helm: the CLI is built from its own tools module (no release download here).
HELM := $(BIN)/helm
CHART := charts/quiesce
CHART_TEST_VALUES := --set repository.password=ci --set coordinator.schedules[0].name=nightly \
	--set 'coordinator.schedules[0].schedule=0 2 * * *' --set coordinator.schedules[0].template.ttl=24h

$(HELM): tools/helm/go.mod
	cd tools/helm && $(GO) build -o ../../$(HELM) helm.sh/helm/v3/cmd/helm

.PHONY: helm chart-lint
helm: $(HELM)

# chart-lint: helm lint and helm template must be clean; charts/charttest
# (run by go test) checks what the rendered objects say.
chart-lint: $(HELM)
	$(HELM) lint --strict $(CHART) $(CHART_TEST_VALUES)
	$(HELM) template quiesce $(CHART) --namespace quiesce $(CHART_TEST_VALUES) >/dev/null
