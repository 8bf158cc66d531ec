package coordinator

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func TestExporterRestores(t *testing.T) {
	restore := func(name string, phase api.RestorePhase, end int64, hooksFailed int) *api.Restore {
		r := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: name},
			Status: api.RestoreStatus{Phase: phase, HooksFailed: hooksFailed}}
		if end > 0 {
			tm := metav1.NewTime(time.Unix(end, 0))
			r.Status.CompletionTimestamp = &tm
		}
		return r
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(
		restore("a", api.RestorePhaseCompleted, 1000, 0),
		restore("b", api.RestorePhasePartiallyFailed, 2000, 2),
		restore("c", api.RestorePhaseInProgress, 0, 1),
		restore("d", "", 0, 0),
	).Build()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewExporter(c, "quiesce", zaptest.NewLogger(t)))
	want := `
# HELP quiesce_restores Restores in the namespace, by phase.
# TYPE quiesce_restores gauge
quiesce_restores{phase="Completed"} 1
quiesce_restores{phase="InProgress"} 1
quiesce_restores{phase="New"} 1
quiesce_restores{phase="PartiallyFailed"} 1
# HELP quiesce_restore_last_completion_timestamp_seconds Completion time of the newest finished restore, by its final phase.
# TYPE quiesce_restore_last_completion_timestamp_seconds gauge
quiesce_restore_last_completion_timestamp_seconds{phase="PartiallyFailed"} 2000
# HELP quiesce_restore_hooks_failed Post-restore hooks that failed, summed over the Restores in the namespace.
# TYPE quiesce_restore_hooks_failed gauge
quiesce_restore_hooks_failed 3
# HELP quiesce_exporter_restore_list_errors 1 when listing the Restores failed on this scrape.
# TYPE quiesce_exporter_restore_list_errors gauge
quiesce_exporter_restore_list_errors 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "quiesce_restores", "quiesce_restore_last_completion_timestamp_seconds",
		"quiesce_restore_hooks_failed", "quiesce_exporter_restore_list_errors"); err != nil {
		t.Fatal(err)
	}
}
