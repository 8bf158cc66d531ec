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

// TestDatabaseProof is the cluster proof of issue 12: each database
// recipe of examples/databases exactly as a user applies it (its namespace
// and storage class changed), on a real PersistentVolume, under a
// sustained write load that carries an invariant; each cycle backs it up
// through the installed chart while the load runs, restores it into a new
// namespace (Velero's namespaceMapping), and checks the restored server: it
// starts and recovers by itself (no error of the server in its log), the
// database's own checks pass, the invariant holds exactly, and every write
// acknowledged before the freeze began is in it. The control cycles do the
// same with the pod's hooks removed: what the hooks buy. For PostgreSQL,
// `quiesce backup verify` then runs the recipe's own check hook on the last
// backup, and a failing one.
//
// QUIESCE_DBPROOF_CYCLES (default 2: make test), QUIESCE_DBPROOF_CONTROL
// (control cycles per database, default 0), QUIESCE_DBPROOF_DBS (default
// postgres; make test-consistency: postgres,mariadb,redis, whose images
// make db-images builds), QUIESCE_DBPROOF_OUT (a Markdown table),
// QUIESCE_DBPROOF_DOC (a document whose generated-table section the table
// replaces, with the run's date, parameters and QUIESCE_DBPROOF_REV).
func TestDatabaseProof(t *testing.T) {
	c := env(t)
	began := time.Now()
	cycles, control := envInt("QUIESCE_DBPROOF_CYCLES", 2), envInt("QUIESCE_DBPROOF_CONTROL", 0)
	names := []string{"postgres"}
	if v := os.Getenv("QUIESCE_DBPROOF_DBS"); v != "" {
		names = strings.Split(v, ",")
	}
	sys := c.Namespace(t, "qsys")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys)
	kc := apiClient(t, c)

	var results []consistency.Cycle
	for _, name := range names {
		db, ok := proofDBs[name]
		if !ok {
			t.Fatalf("QUIESCE_DBPROOF_DBS: no database %q (postgres, mariadb, redis)", name)
		}
		t.Run(name, func(t *testing.T) {
			p := startProofDB(t, c, kc, db)
			var last string
			for i := range cycles + control {
				backup := fmt.Sprintf("%s-%d", db.short, i)
				if i == cycles {
					p.removeHooks(t)
				}
				cy := p.cycle(t, sys, backup, i, i >= cycles)
				t.Logf("cycle %d: %+v", i, cy)
				results = append(results, cy)
				if i < cycles {
					last = backup
					if !cy.Clean() {
						t.Errorf("cycle %d not clean: %+v", i, cy)
					}
				}
			}
			if db.afterCycles != nil && !t.Failed() {
				db.afterCycles(t, p, sys, last)
			}
		})
	}
	var table bytes.Buffer
	consistency.WriteTable(&table, consistency.Summarize(results))
	t.Logf("\n%s", table.String())
	if out := os.Getenv("QUIESCE_DBPROOF_OUT"); out != "" {
		if err := os.WriteFile(out, table.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if doc := os.Getenv("QUIESCE_DBPROOF_DOC"); doc != "" {
		var section bytes.Buffer
		fmt.Fprintf(&section, "%s, quiesce %s, recipe cycles: %d, control cycles: %d, each of %s; %d min in all.\n\n",
			began.UTC().Format("2006-01-02 15:04 UTC"), os.Getenv("QUIESCE_DBPROOF_REV"), cycles, control,
			strings.Join(names, ", "), int(time.Since(began).Round(time.Minute).Minutes()))
		section.Write(table.Bytes())
		writeSection(t, doc, section.Bytes())
	}
}

// writeSection puts section into doc's generated-table section.
func writeSection(t *testing.T, doc string, section []byte) {
	old, err := os.ReadFile(doc)
	if err != nil {
		t.Fatalf("QUIESCE_DBPROOF_DOC: %v", err)
	}
	updated, err := consistency.SpliceTable(old, section)
	if err != nil {
		t.Fatalf("QUIESCE_DBPROOF_DOC %s: %v", doc, err)
	}
	if err := os.WriteFile(doc, updated, 0o644); err != nil {
		t.Fatal(err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// pgVerifyAndRestart runs after PostgreSQL's cycles: the recipe's verify
// hook on the last backup, the live server's restart on its volume, and a
// check that fails.
func pgVerifyAndRestart(t *testing.T, p *liveDB, sys, last string) {
	c, kc, class, app := p.c, p.kc, p.class, p.ns
	ctx := t.Context()
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
		t.Fatalf("%v; server log:\n%s", err, p.serverLog(t, app))
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

// proofDB is what the cluster proof needs of one database recipe. Its
// commands run in the database's container of the live or the restored
// pod; the load's workers write "ID unix-time" to /tmp/acks-<cycle>-<w>
// (outside the backed-up volume) after each write the database
// acknowledged, never before its commit.
type proofDB struct {
	name, short string // the recipe's directory and StatefulSet; backup names
	recipe      string // the table's row
	container   string
	readyIn     time.Duration
	// setup runs once in the live pod (schema and seed); load is the cycle's
	// scripts, each a loop until the file stop exists.
	setup [][]string
	load  func(cycle int, stop string) []string
	// serverErrors are the markers of the server's own errors in its log.
	serverErrors []string
	// check runs the database's own checks, invariant says whether it holds
	// exactly, ids lists the IDs of the workers' writes it holds.
	check, invariant func(run dbExec) (bool, string)
	ids              func(run dbExec) (map[string]bool, error)
	afterCycles      func(t *testing.T, p *liveDB, sys, last string)
}

// execFunc runs a command in the database container of a namespace's pod;
// dbExec, in one pod's (the restored one's).
type (
	execFunc func(ns string, args ...string) (string, error)
	dbExec   func(args ...string) (string, error)
)

// liveDB is a recipe running in its namespace.
type liveDB struct {
	proofDB
	c     *cluster.Cluster
	kc    client.Client
	ns    string
	class string
	exec  execFunc
}

func (p *liveDB) pod() string { return p.name + "-0" }

func startProofDB(t *testing.T, c *cluster.Cluster, kc client.Client, db proofDB) *liveDB {
	p := &liveDB{proofDB: db, c: c, kc: kc, ns: c.Namespace(t, "q"+db.short)}
	p.class = "qe2e-" + p.ns
	p.exec = func(ns string, args ...string) (string, error) {
		res, err := c.Exec(t.Context(), ns, p.pod(), db.container, nil, args...)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit code %d", res.ExitCode)
		}
		return strings.TrimSpace(res.Stdout + res.Stderr), err
	}
	dbPV(t, c, p.class, p.ns+"-src", "node-a")
	applyRecipe(t, kc, filepath.Join(cluster.RepoRoot(), "examples/databases", db.name, "statefulset.yaml"), p.ns, p.class)
	if _, err := c.WaitPod(t.Context(), p.ns, p.pod(), 4*time.Minute, cluster.PodReady); err != nil {
		t.Fatalf("%s (image docker.io/quiesce/%s:local: make images builds postgres, make db-images the others): %v\n%s",
			p.pod(), db.name, err, p.serverLog(t, p.ns))
	}
	for _, cmd := range db.setup {
		if out, err := p.exec(p.ns, cmd...); err != nil {
			t.Fatalf("%s setup %q: %v\n%s", db.name, cmd[0], err, out)
		}
	}
	return p
}

// removeHooks takes the backup hooks off the live pod (its annotations:
// the pod is not restarted), for the control cycles.
func (p *liveDB) removeHooks(t *testing.T) {
	var pod corev1.Pod
	if err := p.kc.Get(t.Context(), client.ObjectKey{Namespace: p.ns, Name: p.pod()}, &pod); err != nil {
		t.Fatal(err)
	}
	for k := range pod.Annotations {
		if strings.Contains(k, "hook.backup.") {
			delete(pod.Annotations, k)
		}
	}
	if err := p.kc.Update(t.Context(), &pod); err != nil {
		t.Fatalf("remove %s's hooks: %v", p.pod(), err)
	}
}

// serverLog is the database container's log in ns.
func (p *liveDB) serverLog(t *testing.T, ns string) string {
	raw, err := p.c.Client.CoreV1().Pods(ns).GetLogs(p.pod(), &corev1.PodLogOptions{Container: p.container}).DoRaw(t.Context())
	if err != nil {
		return "logs: " + err.Error()
	}
	return string(raw)
}

// cycle backs the database up under load, restores it into a new
// namespace and checks the restored server; control: the pod's hooks are
// removed.
func (p *liveDB) cycle(t *testing.T, sys, name string, i int, control bool) consistency.Cycle {
	ctx := t.Context()
	c, kc, app := p.c, p.kc, p.ns
	cy := consistency.Cycle{Recipe: p.recipe + ", in cluster"}
	if control {
		cy.Recipe = p.name + ", hooks removed (control), in cluster"
	}
	stop := fmt.Sprintf("/tmp/stop-%d", i)
	var wg sync.WaitGroup
	for _, script := range p.load(i, stop) {
		wg.Go(func() {
			if res, err := c.Exec(context.WithoutCancel(ctx), app, p.pod(), p.container, nil, "sh", "-c", script); err != nil || res.ExitCode != 0 {
				t.Errorf("load %q: %v %+v", script[:20], err, res)
			}
		})
	}
	stopLoad := func() {
		_, _ = p.exec(app, "touch", stop)
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
	pod := findPod(podsOf(t, kc, &b), app, p.pod())
	if pod == nil || b.Status.Phase != api.BackupPhaseCompleted || (!control && (pod.FreezeStart == nil || pod.FreezeEnd == nil)) {
		cy.HookErr = fmt.Sprintf("backup %s: %s, pod result %+v", name, b.Status.Phase, pod)
		return cy
	}
	cy.Captured = true
	if pod.Freeze != nil {
		cy.Freeze = pod.Freeze.Duration
	}
	// Acknowledged before this instant must be in the copy: the freeze's
	// start, or with no hooks the backup's (the capture starts after it).
	// The API keeps seconds: an ack before the second it falls in certainly
	// came before it.
	from := b.Status.StartTimestamp.Time
	if pod.FreezeStart != nil {
		from = pod.FreezeStart.Time
	}
	acks := readAcks(t, p.exec, app, i)
	cy.Acks = len(acks)
	cy.Stall = consistency.MaxGap(acks, from.Truncate(time.Second))

	dst := fmt.Sprintf("%s-r%d", app, i)
	dbPV(t, c, p.class, dst, "node-b")
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
	if _, err := c.WaitPod(ctx, dst, p.pod(), p.readyIn, cluster.PodReady); err != nil {
		cy.Note = fmt.Sprintf("restored server not ready: %v: %s", err, consistency.LogErrors(p.serverLog(t, dst), p.serverErrors...))
		return cy
	}
	if bad := consistency.LogErrors(p.serverLog(t, dst), p.serverErrors...); bad != "" {
		cy.Note = "restored server log: " + bad
		return cy
	}
	cy.Started = true
	exec := func(args ...string) (string, error) { return p.exec(dst, args...) }
	var note string
	if cy.ChecksOK, note = p.check(exec); !cy.ChecksOK {
		cy.Note = note
	}
	if cy.InvariantOK, note = p.invariant(exec); !cy.InvariantOK {
		cy.Note += " " + note
	}
	present, err := p.ids(exec)
	if err != nil {
		cy.Note += fmt.Sprintf(" ids: %v", err)
	}
	cy.Missing, _ = consistency.AckCheck(acks, present, from.Truncate(time.Second), from)
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
