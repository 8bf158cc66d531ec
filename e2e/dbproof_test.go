package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
	"github.com/quiesce-dev/quiesce/e2e/consistency"
)

// TestDatabaseProof is the cluster proof of issue 12 for PostgreSQL: the
// recipe of examples/databases/postgres exactly as a user applies it (its
// namespace and storage class changed), on a real PersistentVolume, under
// a sustained TPC-B write load; each cycle backs it up through the
// installed chart while the load runs, restores it into a new namespace
// (Velero's namespaceMapping), and checks the restored server: it starts
// and recovers by itself (no FATAL/PANIC in its log), pg_amcheck
// --heapallindexed passes, pgbench's balances agree exactly, and every
// transaction acknowledged before the freeze began is in it. Then `quiesce
// backup verify` runs the recipe's own check hook on the last backup.
//
// QUIESCE_DBPROOF_CYCLES (default 2: make test), QUIESCE_DBPROOF_OUT (a
// Markdown table; make test-consistency writes docs/consistency.md's).
func TestDatabaseProof(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	cycles := 2
	if v, err := strconv.Atoi(os.Getenv("QUIESCE_DBPROOF_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qpg")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys)
	kc := apiClient(t, c)

	class := "qe2e-" + app
	dbPV(t, c, class, app+"-src", "node-a")
	applyRecipe(t, kc, filepath.Join(cluster.RepoRoot(), "examples/databases/postgres/statefulset.yaml"), app, class)
	if _, err := c.WaitPod(ctx, app, "postgres-0", 4*time.Minute, cluster.PodReady); err != nil {
		t.Fatalf("postgres-0 (image docker.io/quiesce/postgres:local: make images builds it): %v", err)
	}
	// execDB runs a command in the database container of postgres-0 in ns.
	execDB := func(ns string, args ...string) (string, error) {
		res, err := c.Exec(ctx, ns, "postgres-0", "postgres", nil, args...)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit code %d", res.ExitCode)
		}
		return strings.TrimSpace(res.Stdout + res.Stderr), err
	}
	if out, err := execDB(app, "pgbench", "-i", "-q", "-s", "5", "app"); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}

	var results []consistency.Cycle
	var last string
	for i := range cycles {
		name := fmt.Sprintf("pg-%d", i)
		cy := pgCycle(t, c, kc, sys, app, class, name, i, execDB)
		t.Logf("cycle %d: %+v", i, cy)
		results = append(results, cy)
		last = name
	}
	var table bytes.Buffer
	consistency.WriteTable(&table, consistency.Summarize(results))
	t.Logf("\n%s", table.String())
	if out := os.Getenv("QUIESCE_DBPROOF_OUT"); out != "" {
		if err := os.WriteFile(out, table.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, cy := range results {
		if !cy.Clean() {
			t.Errorf("cycle %d not clean: %+v", i, cy)
		}
	}

	// The recipe's verify hook on the last backup: restored into a scratch
	// namespace (its claim binds a volume of the same class), checked, gone.
	dbPV(t, c, class, app+"-verify", "node-b")
	out, err := run(t, nil, "quiesce", "backup", "verify", last, "--kubeconfig", c.Kubeconfig, "-n", sys, "--ready-timeout", "4m")
	t.Logf("quiesce backup verify %s:\n%s", last, out)
	var b api.Backup
	if gerr := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: last}, &b); gerr != nil {
		t.Fatal(gerr)
	}
	v := b.Status.Verification
	if err != nil || v == nil || v.Phase != api.VerificationPassed || len(v.Pods) != 1 || !v.Pods[0].Checked {
		t.Fatalf("verify %s: %v, verification %+v: want Passed with the recipe's check run", last, err, v)
	}
	if !strings.Contains(v.Pods[0].Output, "amcheck clean") {
		t.Errorf("verify output %q: want the recipe's check to report a clean amcheck", v.Pods[0].Output)
	}
	waitNamespaceGone(t, c, v.NamespaceMapping[app])

	// The live server restarts after its backups (no stale backup label,
	// no lock file in the way): its pod deleted, the StatefulSet's next one
	// is Ready on the same volume.
	var live corev1.Pod
	if err := kc.Get(ctx, client.ObjectKey{Namespace: app, Name: "postgres-0"}, &live); err != nil {
		t.Fatal(err)
	}
	if err := kc.Delete(ctx, &live); err != nil {
		t.Fatal(err)
	}
	var restarted corev1.Pod
	if err := cluster.WaitFor(ctx, 4*time.Minute, "postgres-0 back after its backups", func(ctx context.Context) (bool, string, error) {
		if err := kc.Get(ctx, client.ObjectKey{Namespace: app, Name: "postgres-0"}, &restarted); err != nil {
			return false, err.Error(), nil
		}
		return restarted.UID != live.UID && cluster.PodReady(&restarted), string(restarted.Status.Phase), nil
	}); err != nil {
		t.Fatalf("%v; server log:\n%s", err, serverLog(t, c, app))
	}

	// A check that fails: the pod's verify hook (an annotation, read from
	// the backed-up pod) asks for a table the database lacks; the
	// verification of its next backup ends Failed with what psql said.
	patch := []byte(`{"metadata":{"annotations":{"verify.hook.quiesce.dev/command":` +
		`"[\"psql\", \"-X\", \"-v\", \"ON_ERROR_STOP=1\", \"-c\", \"SELECT count(*) FROM orders\"]"}}}`)
	if err := kc.Patch(ctx, &restarted, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, "quiesce", "backup", "create", "pg-bad-check", "--kubeconfig", c.Kubeconfig, "-n", sys, "--include-namespaces", app, "--wait"); err != nil {
		t.Fatalf("backup pg-bad-check: %v\n%s", err, out)
	}
	dbPV(t, c, class, app+"-verify2", "node-b")
	out, err = run(t, nil, "quiesce", "backup", "verify", "pg-bad-check", "--kubeconfig", c.Kubeconfig, "-n", sys, "--ready-timeout", "4m")
	t.Logf("quiesce backup verify pg-bad-check:\n%s", out)
	if gerr := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "pg-bad-check"}, &b); gerr != nil {
		t.Fatal(gerr)
	}
	v = b.Status.Verification
	if err == nil || v == nil || v.Phase != api.VerificationFailed || len(v.Pods) != 1 || v.Pods[0].Passed ||
		!strings.Contains(v.Pods[0].Output, `relation "orders" does not exist`) {
		t.Fatalf("verify pg-bad-check: %v, verification %+v: want Failed with psql's error", err, v)
	}
	if !strings.Contains(out, `relation "orders" does not exist`) {
		t.Errorf("verify output does not show the check's error:\n%s", out)
	}
	waitNamespaceGone(t, c, v.NamespaceMapping[app])
}

// pgCycle backs the database up under load, restores it into a new
// namespace and checks the restored server.
func pgCycle(t *testing.T, c *cluster.Cluster, kc client.Client, sys, app, class, name string, i int,
	execDB func(ns string, args ...string) (string, error)) consistency.Cycle {
	ctx := t.Context()
	cy := consistency.Cycle{Recipe: "postgres backup-mode (held pg_backup_start), in cluster"}
	stop := fmt.Sprintf("/tmp/stop-%d", i)
	// The load: pgbench's own clients, and two workers running the same
	// TPC-B transaction with an ID in pgbench_history.filler, each ack
	// stamped (after psql returned, so never before the commit) in /tmp,
	// outside the backed-up volume.
	load := []string{
		fmt.Sprintf(`while [ ! -f %s ]; do pgbench -n -c 2 -j 1 -T 2 app >/dev/null 2>&1; done`, stop),
	}
	for w := range 2 {
		load = append(load, fmt.Sprintf(`n=0; while [ ! -f %[1]s ]; do n=$((n+1)); id=c%[2]d-w%[3]d-$n
a=$(( (n * 7919 + %[3]d) %% 500000 + 1 )); d=$(( n %% 1000 - 500 )); tl=$(( n %% 50 + 1 )); br=$(( n %% 5 + 1 ))
psql -X -qAt -v ON_ERROR_STOP=1 -c "BEGIN; UPDATE pgbench_accounts SET abalance = abalance + $d WHERE aid = $a; UPDATE pgbench_tellers SET tbalance = tbalance + $d WHERE tid = $tl; UPDATE pgbench_branches SET bbalance = bbalance + $d WHERE bid = $br; INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) VALUES ($tl, $br, $a, $d, now(), '$id'); COMMIT;" >/dev/null 2>>/tmp/load-err-%[2]d && echo "$id $(date +%%s.%%N)" >> /tmp/acks-%[2]d-%[3]d
done`, stop, i, w))
	}
	var wg sync.WaitGroup
	for _, script := range load {
		wg.Go(func() {
			if res, err := c.Exec(context.WithoutCancel(ctx), app, "postgres-0", "postgres", nil, "sh", "-c", script); err != nil || res.ExitCode != 0 {
				t.Errorf("load %q: %v %+v", script[:20], err, res)
			}
		})
	}
	stopLoad := func() {
		_, _ = execDB(app, "touch", stop)
		wg.Wait()
	}
	defer stopLoad()
	time.Sleep(3 * time.Second)

	out, err := run(t, nil, "quiesce", "backup", "create", name, "--kubeconfig", c.Kubeconfig, "-n", sys, "--include-namespaces", app, "--wait")
	t.Logf("quiesce backup create %s:\n%s", name, out)
	time.Sleep(time.Second)
	stopLoad()
	if err != nil {
		cy.HookErr = err.Error()
		return cy
	}
	var b api.Backup
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: name}, &b); err != nil {
		t.Fatal(err)
	}
	pod := findPod(podsOf(t, kc, &b), app, "postgres-0")
	if pod == nil || pod.FreezeStart == nil || pod.FreezeEnd == nil || b.Status.Phase != api.BackupPhaseCompleted {
		cy.HookErr = fmt.Sprintf("backup %s: %s, pod result %+v", name, b.Status.Phase, pod)
		return cy
	}
	cy.Captured = true
	if pod.Freeze != nil {
		cy.Freeze = pod.Freeze.Duration
	}
	acks := readAcks(t, execDB, app, i)
	cy.Acks = len(acks)
	cy.Stall = consistency.MaxGap(acks, pod.FreezeStart.Truncate(time.Second))

	dst := fmt.Sprintf("%s-r%d", app, i)
	dbPV(t, c, class, dst, "node-b")
	// Gone when the cycle ends: the next cycle's server does not share the
	// machine with this one.
	defer func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), dst, metav1.DeleteOptions{})
	}()
	r := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: sys, Name: name},
		Spec: api.RestoreSpec{BackupName: name, NamespaceMapping: map[string]string{app: dst}}}
	if err := kc.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	err = cluster.WaitFor(ctx, 5*time.Minute, "restore "+name+" final", func(ctx context.Context) (bool, string, error) {
		if err := kc.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return false, err.Error(), nil
		}
		return r.Status.Phase.Final(), string(r.Status.Phase), nil
	})
	if err != nil || r.Status.Phase != api.RestorePhaseCompleted {
		cy.Note = fmt.Sprintf("restore %s: %v %s %s %v", name, err, r.Status.Phase, r.Status.FailureReason, r.Status.Errors)
		return cy
	}
	if _, err := c.WaitPod(ctx, dst, "postgres-0", 3*time.Minute, cluster.PodReady); err != nil {
		cy.Note = fmt.Sprintf("restored server not ready: %v: %s", err, serverLog(t, c, dst))
		return cy
	}
	if bad := consistency.LogErrors(serverLog(t, c, dst), "FATAL:", "PANIC:", "ERROR:"); bad != "" {
		cy.Note = "restored server log: " + bad
		return cy
	}
	cy.Started = true
	if out, err := execDB(dst, "pg_amcheck", "--heapallindexed", "--install-missing", "-d", "app"); err != nil {
		cy.Note = fmt.Sprintf("pg_amcheck: %v %s", err, out)
	} else {
		cy.ChecksOK = true
	}
	sums, err := execDB(dst, "psql", "-X", "-qAt", "-c", `SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' ||
 (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' ||
 (SELECT coalesce(sum(delta), 0) FROM pgbench_history)`)
	f := strings.Fields(sums)
	cy.InvariantOK = err == nil && len(f) == 4 && f[0] == f[1] && f[1] == f[2] && f[2] == f[3]
	if !cy.InvariantOK {
		cy.Note += " TPC-B sums (accounts branches tellers history): " + sums
	}
	ids, err := execDB(dst, "psql", "-X", "-qAt", "-c", "SELECT trim(filler) FROM pgbench_history WHERE filler IS NOT NULL")
	if err != nil {
		cy.Note += " ids: " + ids
	}
	present := map[string]bool{}
	for _, id := range strings.Fields(ids) {
		present[id] = true
	}
	// The API keeps seconds: an ack before the second the freeze began in
	// was certainly acknowledged before the pre-hook started.
	cy.Missing, _ = consistency.AckCheck(acks, present, pod.FreezeStart.Truncate(time.Second), pod.FreezeStart.Time)
	if cy.Missing > 0 {
		cy.Note += fmt.Sprintf(" %d acknowledged writes missing", cy.Missing)
	}
	return cy
}

// applyRecipe creates a recipe manifest's objects in ns, its claims in
// class (a user's manifest names neither: the cluster here has no default
// class that provisions).
func applyRecipe(t *testing.T, kc client.Client, file, ns, class string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for doc := range bytes.SplitSeq(raw, []byte("\n---")) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Kind == "" {
			continue
		}
		var obj client.Object
		switch meta.Kind {
		case "Secret":
			obj = &corev1.Secret{}
		case "StatefulSet":
			obj = &appsv1.StatefulSet{}
		default:
			t.Fatalf("%s: unexpected kind %s", file, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		obj.SetNamespace(ns)
		if ss, ok := obj.(*appsv1.StatefulSet); ok {
			for j := range ss.Spec.VolumeClaimTemplates {
				ss.Spec.VolumeClaimTemplates[j].Spec.StorageClassName = &class
			}
		}
		if err := kc.Create(t.Context(), obj); err != nil {
			t.Fatalf("%s: create %s: %v", file, meta.Kind, err)
		}
	}
}

// dbPV is a local PersistentVolume of class on node, large enough for a
// recipe's claim.
func dbPV(t *testing.T, c *cluster.Cluster, class, name, node string) {
	t.Helper()
	hostPV(t, c, name, class, node, "4Gi")
}

func findPod(pods []api.PodResult, ns, name string) *api.PodResult {
	for i := range pods {
		if pods[i].Namespace == ns && pods[i].Name == name {
			return &pods[i]
		}
	}
	return nil
}

// readAcks reads the workers' ack files of cycle i ("ID unix-seconds").
func readAcks(t *testing.T, execDB func(ns string, args ...string) (string, error), ns string, i int) []consistency.Ack {
	t.Helper()
	out, err := execDB(ns, "sh", "-c", fmt.Sprintf("cat /tmp/acks-%d-*", i))
	if err != nil {
		t.Fatalf("read acks: %v %s", err, out)
	}
	var acks []consistency.Ack
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		sec, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("ack %q: %v", line, err)
		}
		acks = append(acks, consistency.Ack{ID: f[0], At: time.Unix(0, int64(sec*1e9))})
	}
	return acks
}

// serverLog is the restored postgres container's log.
func serverLog(t *testing.T, c *cluster.Cluster, ns string) string {
	raw, err := c.Client.CoreV1().Pods(ns).GetLogs("postgres-0", &corev1.PodLogOptions{Container: "postgres"}).DoRaw(t.Context())
	if err != nil {
		return "logs: " + err.Error()
	}
	return string(raw)
}
