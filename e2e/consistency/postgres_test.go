package consistency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const pgBin = "/usr/lib/postgresql/15/bin"

type postgres struct {
	uid, gid   uint32
	dir, data  string
	sock       string
	live       *server
	pathEnv    string
	restoreSeq int
}

func (p *postgres) runner(sock string) runner {
	return runner{uid: p.uid, gid: p.gid, dir: p.dir,
		env: []string{p.pathEnv, "PGHOST=" + sock, "PGPORT=5432", "PGUSER=postgres", "PGDATABASE=app", "HOME=" + p.dir}}
}

func newPostgres(t *testing.T, dir string) db {
	p := &postgres{dir: dir, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "sock"),
		pathEnv: "PATH=" + pgBin + ":/usr/bin:/bin"}
	p.uid, p.gid = osUser(t, "postgres")
	ownedDir(t, dir, p.uid, p.gid)
	ownedDir(t, p.sock, p.uid, p.gid)
	r := p.runner(p.sock)
	if out, err := output(t.Context(), r, pgBin+"/initdb", "-D", p.data, "-U", "postgres", "--auth-local=trust", "--auth-host=reject"); err != nil {
		t.Fatalf("initdb: %v %s", err, out)
	}
	p.live = startServer(t, r, filepath.Join(dir, "live.log"), pgBin+"/postgres", "-D", p.data, "-c", "listen_addresses=", "-k", p.sock, "-p", "5432")
	t.Cleanup(p.live.stop)
	if err := p.live.waitUntil(time.Minute, func() bool { _, err := output(t.Context(), r, pgBin+"/pg_isready", "-q"); return err == nil }); err != nil {
		t.Fatalf("postgres: %v\n%s", err, p.live.logText())
	}
	for _, argv := range [][]string{{pgBin + "/createdb", "app"}, {pgBin + "/pgbench", "-i", "-q", "-s", "10", "app"}} {
		if out, err := output(t.Context(), r, argv...); err != nil {
			t.Fatalf("%v: %v %s", argv, err, out)
		}
	}
	return p
}

func (p *postgres) DataDir() string { return p.data }

func (p *postgres) Hooks(env map[string]string) runner {
	r := p.runner(p.sock)
	for k, v := range env {
		if !strings.HasPrefix(k, "PGHOST") && k != "PGDATA" && k != "PGPORT" {
			r.env = append(r.env, k+"="+v)
		}
	}
	r.env = append(r.env, "PGDATA="+p.data)
	return r
}

// Worker runs pgbench's TPC-B transaction through psql, tagging the history
// row with the transaction's ID.
func (p *postgres) Worker(ctx context.Context, n int, acks chan<- Ack) error {
	return pipeWorker(ctx, p.runner(p.sock), []string{pgBin + "/psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1"}, n, func(id string) string {
		aid, tid, bid, d := rand.IntN(1000000)+1, rand.IntN(100)+1, rand.IntN(10)+1, rand.IntN(10001)-5000
		return fmt.Sprintf(`BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + %[4]d WHERE aid = %[1]d;
UPDATE pgbench_tellers SET tbalance = tbalance + %[4]d WHERE tid = %[2]d;
UPDATE pgbench_branches SET bbalance = bbalance + %[4]d WHERE bid = %[3]d;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) VALUES (%[2]d, %[3]d, %[1]d, %[4]d, now(), '%[5]s');
COMMIT;
SELECT 'ack %[5]s';
`, aid, tid, bid, d, id)
	}, acks)
}

// Background is pgbench itself (TPC-B, 4 clients) beside the workers.
func (p *postgres) Background(ctx context.Context, seconds int) func() error {
	c := p.runner(p.sock).cmd([]string{pgBin + "/pgbench", "-n", "-c", "4", "-j", "2", "-T", fmt.Sprint(seconds + 60), "app"})
	if err := c.Start(); err != nil {
		return func() error { return err }
	}
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM) })
	return func() error { stop(); _ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM); return c.Wait() }
}

// Verify starts postgres on the copy in new PID and IPC namespaces, as a
// restored container would start (the live server still runs here, and
// its postmaster.pid and shared memory key are in the copy).
func (p *postgres) Verify(ctx context.Context, t *testing.T, dir string) (v verdict) {
	p.restoreSeq++
	sock := ownedDir(t, filepath.Join(p.dir, fmt.Sprintf("rsock%d", p.restoreSeq)), p.uid, p.gid)
	defer os.RemoveAll(sock)
	root := runner{env: []string{p.pathEnv}, dir: p.dir}
	srv := startServer(t, root, dir+".log", "unshare", "-p", "-f", "-i", "-m", "--mount-proc", "--kill-child",
		fmt.Sprintf("--setgid=%d", p.gid), fmt.Sprintf("--setuid=%d", p.uid),
		pgBin+"/postgres", "-D", dir, "-c", "listen_addresses=", "-k", sock, "-p", "5432")
	defer func() { killGroup(srv.cmd); <-srv.done }()
	r := p.runner(sock)
	if err := srv.waitUntil(2*time.Minute, func() bool { _, err := output(ctx, r, pgBin+"/pg_isready", "-q"); return err == nil }); err != nil {
		v.Note = fmt.Sprintf("restored server: %v: %s", err, LogErrors(srv.logText(), "FATAL", "PANIC"))
		return v
	}
	if bad := LogErrors(srv.logText(), "FATAL", "PANIC", "ERROR"); bad != "" {
		v.Note = "restored server log: " + bad
		return v
	}
	v.Started = true
	if out, err := output(ctx, r, pgBin+"/pg_amcheck", "--heapallindexed", "--install-missing", "-d", "app"); err != nil {
		v.Note = "pg_amcheck: " + lastLines(out, 3)
	} else {
		v.ChecksOK = true
	}
	sums, err := output(ctx, r, pgBin+"/psql", "-X", "-qAt", "-c", `SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' ||
 (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' ||
 (SELECT coalesce(sum(delta), 0) FROM pgbench_history)`)
	f := strings.Fields(sums)
	v.InvariantOK = err == nil && len(f) == 4 && f[0] == f[1] && f[1] == f[2] && f[2] == f[3]
	if !v.InvariantOK && v.Note == "" {
		v.Note = "TPC-B sums (accounts branches tellers history) differ: " + sums
	}
	ids, err := output(ctx, r, pgBin+"/psql", "-X", "-qAt", "-c", "SELECT trim(filler) FROM pgbench_history WHERE filler IS NOT NULL")
	if err != nil {
		v.Note += " ids: " + ids
	}
	v.IDs = map[string]bool{}
	for _, id := range strings.Fields(ids) {
		v.IDs[id] = true
	}
	return v
}
