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
	c := NewCoordinator(reg)
	a.HookDuration.WithLabelValues("pre", "ok").Observe(0.02)
	a.FreezeWindow.Observe(1.5)
	c.LastSuccessfulBackup.WithLabelValues("nightly").Set(1.7e9)

	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`quiesce_hook_duration_seconds_count{phase="pre",result="ok"} 1`,
		`quiesce_freeze_window_seconds_sum 1.5`,
		`quiesce_last_successful_backup_timestamp_seconds{schedule="nightly"} 1.7e+09`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}
