package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMetricsServed(t *testing.T) {
	reg := NewRegistry()
	a := NewAgent(reg)
	a.HookDuration.WithLabelValues("pre", "ok").Observe(0.02)
	a.FreezeWindow.WithLabelValues("shop").Observe(1.5)
	a.RestoreBytes.Add(4096)
	a.RestoreDuration.Observe(0.5)
	a.RestoreHooks.WithLabelValues("timeout").Inc()

	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`quiesce_hook_duration_seconds_count{phase="pre",result="ok"} 1`,
		`quiesce_freeze_window_seconds_sum{pod_namespace="shop"} 1.5`,
		`quiesce_pod_backups_total{phase="Failed"} 0`,
		`quiesce_agent_ready 0`,
		`quiesce_volume_restore_bytes_total 4096`,
		`quiesce_volume_restore_duration_seconds_count 1`,
		`quiesce_restore_hooks_total{outcome="timeout"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}
