package coordinator

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

type fakeRecorder struct {
	progress api.BackupProgress
	warnings []string
	err      error
	calls    []*api.Backup
	reports  [][]api.PodResult
	ctxErrs  []error
	checkErr error
}

func (f *fakeRecorder) Check(context.Context) error { return f.checkErr }

func (f *fakeRecorder) Record(ctx context.Context, b *api.Backup, pods []api.PodResult) (api.BackupProgress, []string, error) {
	f.calls = append(f.calls, b.DeepCopy())
	f.reports = append(f.reports, pods)
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	return f.progress, f.warnings, f.err
}

// newRecordingCoordinator runs a Backup of namespace shop whose only pod is
// Pending (skipped), so the Backup is final at its first status fold. The
// first final status write hits a conflict, as when an agent or a user
// wrote the Backup meanwhile.
func newRecordingCoordinator(t *testing.T, rec ResourceRecorder, pods ...client.Object) (*Coordinator, *int) {
	t.Helper()
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"},
		Spec: api.BackupSpec{IncludedNamespaces: []string{"shop"}}}
	conflicts := 0
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithObjects(append(pods, b, agentPod("node-a"))...).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if nb, ok := obj.(*api.Backup); ok && nb.Status.Phase.Final() && conflicts == 0 {
				conflicts++
				return apierrors.NewConflict(schema.GroupResource{Group: "quiesce.dev", Resource: "backups"}, nb.Name, errors.New("modified"))
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		}}).Build()
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute, Resources: rec}
	return co, &conflicts
}

func pendingPod() *corev1.Pod {
	p := runningPod("shop", "web-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	p.Status.Phase = corev1.PodPending
	return &p
}

func TestRecordErrorMakesBackupPartiallyFailed(t *testing.T) {
	rec := &fakeRecorder{err: errors.New("repository /repo: store resources of backup b1: disk full")}
	co, conflicts := newRecordingCoordinator(t, rec, pendingPod())
	got, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.Phase != api.BackupPhasePartiallyFailed {
		t.Fatalf("phase = %s, want PartiallyFailed (volume data is safe)", st.Phase)
	}
	want := "store the backup's Kubernetes objects in the repository: repository /repo: store resources of backup b1: disk full"
	if !slices.Contains(st.Errors, want) {
		t.Fatalf("errors = %q, want %q", st.Errors, want)
	}
	if *conflicts != 1 || len(rec.calls) != 1 {
		t.Fatalf("conflicts %d, Record calls %d: want Record once across the retried write", *conflicts, len(rec.calls))
	}
	// Record saw the Backup as it ends: final phase, pods, completion time.
	seen := rec.calls[0]
	if seen.Name != "b1" || seen.Status.Phase != api.BackupPhaseCompleted || seen.Status.CompletionTimestamp == nil ||
		seen.Status.PodCounts.Skipped != 1 || len(rec.reports[0]) != 1 || rec.reports[0][0].Phase != api.PodSkipped {
		t.Fatalf("Record got status %+v, report %+v", seen.Status, rec.reports[0])
	}
}

func TestRecordProgressAndWarningsInStatus(t *testing.T) {
	rec := &fakeRecorder{progress: api.BackupProgress{TotalItems: 7, ItemsBackedUp: 7},
		warnings: []string{"roles.rbac.authorization.k8s.io: not stored: forbidden"}}
	co, _ := newRecordingCoordinator(t, rec, pendingPod())
	got, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.Phase != api.BackupPhaseCompleted || st.Progress != rec.progress || len(st.Errors) != 0 {
		t.Fatalf("status = %+v, want Completed with progress 7/7", st)
	}
	if !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.HasPrefix(w, "roles.rbac") }) {
		t.Fatalf("warnings = %q, want the recorder's", st.Warnings)
	}
}

// A backup that ends at its deadline still stores its objects, with a live
// context.
func TestRecordAfterTimeout(t *testing.T) {
	rec := &fakeRecorder{progress: api.BackupProgress{TotalItems: 1, ItemsBackedUp: 1}}
	db := runningPod("shop", "db-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	co, _ := newRecordingCoordinator(t, rec, &db)
	co.Timeout = 200 * time.Millisecond
	got, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != api.BackupPhaseFailed || got.Status.Progress.ItemsBackedUp != 1 {
		t.Fatalf("status = %+v, want Failed with the objects stored", got.Status)
	}
	if len(rec.calls) != 1 || rec.ctxErrs[0] != nil {
		t.Fatalf("Record calls %d, context error %v: want one call with a live context", len(rec.calls), rec.ctxErrs)
	}
}

// TestRepositoryCheckFailsBeforeAnythingFreezes: a repository that does not
// open fails the Backup at once, with the reason, and no NodeBackup is
// written (no pod frozen whose upload could only fail).
func TestRepositoryCheckFailsBeforeAnythingFreezes(t *testing.T) {
	rec := &fakeRecorder{checkErr: errors.New("invalid repository password: set the repository's password")}
	pod := runningPod("shop", "web-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	co, _ := newRecordingCoordinator(t, rec, &pod)
	got, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != api.BackupPhaseFailed || got.Status.CompletionTimestamp == nil {
		t.Fatalf("phase %s completion %v: want Failed and ended", got.Status.Phase, got.Status.CompletionTimestamp)
	}
	if len(got.Status.Errors) != 1 || !strings.Contains(got.Status.Errors[0], "invalid repository password") || !strings.Contains(got.Status.Errors[0], "nothing was frozen") {
		t.Errorf("errors %q: want the repository's reason and that nothing was frozen", got.Status.Errors)
	}
	var nbs api.NodeBackupList
	if err := co.Client.List(t.Context(), &nbs); err != nil || len(nbs.Items) != 0 {
		t.Errorf("NodeBackups written: %d (%v), want none", len(nbs.Items), err)
	}
	if len(rec.calls) != 0 {
		t.Errorf("objects recorded %d times for a backup whose repository does not open", len(rec.calls))
	}
}
