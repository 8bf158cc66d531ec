package verify

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/podexec"
)

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 70)
	for _, tt := range []struct{ got, want string }{
		{ScratchNamespace("shop", "0a1b2c"), "shop-verify-0a1b2c"},
		{ScratchNamespace(long, "0a1b2c"), strings.Repeat("a", 49) + "-verify-0a1b2c"},
		{ScratchNamespace(strings.Repeat("a", 48)+"-b", "0a1b2c"), strings.Repeat("a", 48) + "-verify-0a1b2c"},
		{RestoreName("nightly", "0a1b2c"), "nightly-verify-0a1b2c"},
		{RestoreName(long, "0a1b2c"), strings.Repeat("a", 49) + "-verify-0a1b2c"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
		if errs := validation.IsDNS1123Label(tt.got); len(errs) > 0 {
			t.Errorf("%q: %v", tt.got, errs)
		}
	}
	if a, b := ShortHash("uid", "t1"), ShortHash("uid", "t2"); a == b || len(a) != 6 {
		t.Errorf("ShortHash: %q and %q", a, b)
	}
}

func TestEligible(t *testing.T) {
	for phase, want := range map[api.BackupPhase]string{
		api.BackupPhaseCompleted:       "",
		api.BackupPhasePartiallyFailed: "",
		api.BackupPhaseFailed:          "backup qs/b is Failed: it has nothing to restore; verify a Completed or PartiallyFailed backup",
		api.BackupPhaseInProgress:      "backup qs/b is InProgress, not finished: wait until it is Completed or PartiallyFailed (quiesce backup get b)",
		"":                             "backup qs/b is New, not finished: wait until it is Completed or PartiallyFailed (quiesce backup get b)",
	} {
		b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "qs", Name: "b"}, Status: api.BackupStatus{Phase: phase}}
		got := ""
		if err := Eligible(b); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", phase, got, want)
		}
	}
}

func TestBuildRestoresCompletedPodsIntoScratchNamespaces(t *testing.T) {
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "qs", Name: "nightly"}, Status: api.BackupStatus{
		Phase: api.BackupPhasePartiallyFailed}}
	report := []api.PodResult{
		{Namespace: "shop", Name: "web", Phase: api.PodCompleted},
		{Namespace: "db", Name: "pg-0", Phase: api.PodCompleted},
		{Namespace: "shop", Name: "broken", Phase: api.PodFailed},
		{Namespace: "cache", Name: "redis", Phase: api.PodSkipped},
	}
	p, err := Build(b, report, "abc123", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := mappingString(p.Mapping); got != "db -> db-verify-abc123, shop -> shop-verify-abc123" {
		t.Errorf("mapping %s", got)
	}
	var pods []string
	for _, pv := range p.Pods {
		pods = append(pods, pv.Namespace+"/"+pv.Name+"@"+pv.RestoredNamespace)
	}
	if got := strings.Join(pods, " "); got != "db/pg-0@db-verify-abc123 shop/web@shop-verify-abc123" {
		t.Errorf("pods %s", got)
	}
	rs := p.Restore
	if rs.Namespace != "qs" || rs.Name != "nightly-verify-abc123" || rs.Spec.BackupName != "nightly" ||
		strings.Join(rs.Spec.IncludedNamespaces, ",") != "db,shop" || rs.Spec.Timeout.Duration != time.Hour {
		t.Errorf("restore %+v", rs)
	}

	if _, err := Build(b, report[2:], "abc123", time.Hour); err == nil || !strings.Contains(err.Error(), "no pod whose backup completed (2 pods in status)") {
		t.Errorf("no completed pods: %v", err)
	}
}

func TestChecked(t *testing.T) {
	base := api.PodVerification{Namespace: "shop", Name: "web"}
	tests := []struct {
		name     string
		o        CheckOutcome
		passed   bool
		exit     int
		err, out string
	}{
		{name: "exit 0", o: CheckOutcome{Result: podexec.Result{Stdout: "payload\n"}}, passed: true, out: "payload"},
		{name: "exit 3 with output", o: CheckOutcome{Result: podexec.Result{Stdout: "checking\n", Stderr: "corrupt\n", ExitCode: 3}},
			exit: 3, err: "check exited 3", out: "checking\ncorrupt"},
		{name: "timed out", o: CheckOutcome{Err: errors.New("context deadline exceeded"), TimedOut: true, Timeout: time.Minute},
			exit: -1, err: "check timed out after 60s (API-server exec does not kill the process; raise verify.hook.quiesce.dev/timeout if it needs longer)"},
		{name: "stream failed", o: CheckOutcome{Err: errors.New("exec in pod: 403 forbidden")},
			exit: -1, err: "check could not be run: exec in pod: 403 forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Checked(base, "app", tt.o)
			if got.Passed != tt.passed || got.ExitCode != tt.exit || got.Error != tt.err || got.Output != tt.out || !got.Checked || got.Container != "app" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestExcerptKeepsTheTailWithinTheLimit(t *testing.T) {
	s := strings.Repeat("é", 400) + "END" // 803 bytes
	got := Excerpt(s)
	if len(got) > MaxOutput || !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "END") {
		t.Errorf("excerpt of %d bytes: %q", len(got), got)
	}
	if Excerpt("short") != "short" {
		t.Error("short output changed")
	}
}

func TestFold(t *testing.T) {
	ok := api.PodVerification{Namespace: "shop", Name: "web", Passed: true}
	bad := api.PodVerification{Namespace: "shop", Name: "db", Error: "check exited 3"}
	if phase, reason := Fold([]api.PodVerification{ok, ok}); phase != api.VerificationPassed || reason != "" {
		t.Errorf("all passed: %s %q", phase, reason)
	}
	if phase, reason := Fold([]api.PodVerification{ok, bad}); phase != api.VerificationFailed || reason != "1 of 2 pods failed: pod shop/db: check exited 3" {
		t.Errorf("one failed: %s %q", phase, reason)
	}
}

func TestReadiness(t *testing.T) {
	ready := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	if ok, _ := Readiness(ready); !ok {
		t.Error("ready pod not ready")
	}
	waiting := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{
		Name: "quiesce-restore-wait", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}}
	if ok, why := Readiness(waiting); ok || why != "container quiesce-restore-wait waiting: CrashLoopBackOff " {
		t.Errorf("waiting: %v %q", ok, why)
	}
}

func TestRestoredPod(t *testing.T) {
	rs := &api.Restore{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Status: api.RestoreStatus{Phase: api.RestorePhasePartiallyFailed,
		Pods: []api.RestorePodResult{
			{Namespace: "s", Name: "ok", Phase: api.RestorePodCompleted},
			{Namespace: "s", Name: "bad", Phase: api.RestorePodFailed, Reason: "volume data: snapshot not found"},
		}}}
	if err := RestoredPod(rs, "s", "ok"); err != nil {
		t.Error(err)
	}
	if err := RestoredPod(rs, "s", "unlisted"); err != nil {
		t.Error(err)
	}
	if err := RestoredPod(rs, "s", "bad"); err == nil || err.Error() != "its restore ended Failed: volume data: snapshot not found (quiesce restore describe r)" {
		t.Error(err)
	}
	rs.Status.Phase, rs.Status.FailureReason = api.RestorePhaseFailed, "open the repository: no such file"
	if err := RestoredPod(rs, "s", "ok"); err == nil || err.Error() != "restore r failed: open the repository: no such file" {
		t.Error(err)
	}
}
