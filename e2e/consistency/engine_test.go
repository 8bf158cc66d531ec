package consistency

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/fsbackup/staging"
	"github.com/quiesce-dev/quiesce/hook"
)

const proofEnv = "QUIESCE_DBPROOF"

// db is one database under test: a live server on loopback with a load
// that records acknowledgements, and the check of a restored copy.
type db interface {
	// Live returns the live server's data directory and the runner for hooks.
	DataDir() string
	Hooks(env map[string]string) runner
	// Worker runs one load client until ctx ends, sending acknowledged IDs.
	Worker(ctx context.Context, n int, acks chan<- Ack) error
	// Background starts load that carries no IDs (pgbench), if any.
	Background(ctx context.Context, seconds int) func() error
	// Verify starts a fresh server on dir (a copy) and checks it.
	Verify(ctx context.Context, t *testing.T, dir string) (v verdict)
}

type verdict struct {
	Started, ChecksOK, InvariantOK bool
	Note                           string
	IDs                            map[string]bool
}

// osUser is a Debian package's system user.
func osUser(t *testing.T, name string) (uid, gid uint32) {
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (install the server package)", name, err)
	}
	a, _ := strconv.Atoi(u.Uid)
	b, _ := strconv.Atoi(u.Gid)
	return uint32(a), uint32(b)
}

// ownedDir makes dir (and parents) owned by uid:gid with mode 0700.
func ownedDir(t *testing.T, dir string, uid, gid uint32) string {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// server is a background database process with its log.
type server struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startServer(t *testing.T, r runner, logFile string, argv ...string) *server {
	t.Helper()
	c := r.cmd(argv)
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout, c.Stderr = f, f
	if err := c.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	f.Close()
	s := &server{cmd: c, log: logFile, done: make(chan error, 1)}
	go func() { s.done <- c.Wait() }()
	return s
}

// stop ends the server (SIGTERM, then SIGKILL after 30 s).
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		killGroup(s.cmd)
		<-s.done
	}
}

func (s *server) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// waitUntil polls ok (a readiness probe, not a test sleep) until it is true,
// the server exits or timeout passes.
func (s *server) waitUntil(timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("server exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready within %s", timeout)
}

// output runs a client command and returns its combined output.
func output(ctx context.Context, r runner, argv ...string) (string, error) {
	c := r.cmd(argv)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			killGroup(c)
		case <-done:
		}
	}()
	out, err := c.CombinedOutput()
	close(done)
	return strings.TrimSpace(string(out)), err
}

// pipeWorker feeds transactions to a long-lived SQL client (psql, mariadb)
// on stdin and reads "ack ID" lines; a client that exits on an error
// (deadlock, lost connection) is restarted, its transaction unacknowledged.
func pipeWorker(ctx context.Context, r runner, argv []string, n int, tx func(id string) string, acks chan<- Ack) error {
	for ctx.Err() == nil {
		c := r.cmd(argv)
		in, _ := c.StdinPipe()
		out, _ := c.StdoutPipe()
		c.Stderr = io.Discard
		if err := c.Start(); err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { in.Close() })
		lines := bufio.NewScanner(out)
		for ctx.Err() == nil {
			id := fmt.Sprintf("t%d", txSeq.Add(1))
			if _, err := io.WriteString(in, tx(id)); err != nil {
				break
			}
			got := false
			for lines.Scan() {
				if lines.Text() == "ack "+id {
					acks <- Ack{ID: id, At: time.Now()}
					got = true
					break
				}
			}
			if !got {
				break
			}
		}
		stop()
		in.Close()
		_, _ = io.Copy(io.Discard, out)
		_ = c.Wait()
	}
	return nil
}

// txSeq numbers the load's transactions across workers and cycles.
var txSeq atomic.Int64

type proofRecipe struct {
	name, file, statefulSet string
	newDB                   func(t *testing.T, dir string) db
}

// runCycles backs the live database up n times under load as the recipe
// says, and checks each copy.
func runCycles(t *testing.T, pr proofRecipe, d db, n int, work string) []Cycle {
	var rec Recipe
	if pr.file != "" {
		var err error
		if rec, err = LoadRecipe(pr.name, pr.file, pr.statefulSet); err != nil {
			t.Fatal(err)
		}
	} else {
		rec = Recipe{Name: pr.name, Env: map[string]string{}}
	}
	stagingDir := filepath.Join(work, pr.name+"-staging")
	var out []Cycle
	for i := 0; i < n; i++ {
		c := cycle(t, rec, d, stagingDir, filepath.Join(work, fmt.Sprintf("%s-restore-%d", pr.name, i)))
		t.Logf("%s cycle %d: clean=%v %+v", pr.name, i, c.Clean(), c)
		out = append(out, c)
	}
	return out
}

func cycle(t *testing.T, rec Recipe, d db, stagingDir, restoreDir string) Cycle {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := Cycle{Recipe: rec.Name}
	acks := make(chan Ack, 1024)
	var all []Ack
	collected := make(chan struct{})
	go func() {
		for a := range acks {
			all = append(all, a)
		}
		close(collected)
	}()
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Worker(ctx, w, acks) }()
	}
	bg := d.Background(ctx, 6)
	time.Sleep(1500 * time.Millisecond) // load runs before the backup: the point of the test, not a wait

	r := d.Hooks(rec.Env)
	start := time.Now()
	var holds []*held
	failed := false
	for _, h := range rec.Pre {
		var err error
		if h.Mode == hook.Hold {
			var hd *held
			if hd, err = holdHook(ctx, r, h); err == nil {
				holds = append(holds, hd)
			}
		} else {
			var out string
			var code int
			out, code, err = execHook(ctx, r, h)
			if err == nil && code != 0 {
				err = fmt.Errorf("hook %s: exit code %d: %s", h.Name, code, out)
			}
		}
		if err != nil {
			c.HookErr = err.Error()
			if h.OnError != hook.Continue {
				failed = true
				break
			}
		}
	}
	ready := time.Now()
	if !failed {
		if _, err := staging.Capture(ctx, d.DataDir(), stagingDir, staging.Options{}); err != nil {
			c.Note = "capture: " + err.Error()
		} else {
			c.Captured = true
		}
	}
	var notes []string
	releaseStart := time.Now()
	for i := len(holds) - 1; i >= 0; i-- {
		out, code, err := holds[i].release()
		if err != nil || code != 0 {
			notes = append(notes, fmt.Sprintf("release: exit %d %v %s", code, err, lastLines(out, 3)))
		}
	}
	for _, h := range rec.Post {
		out, code, err := execHook(ctx, r, h)
		if err != nil || code != 0 {
			notes = append(notes, fmt.Sprintf("post-hook %s: exit %d %v %s", h.Name, code, err, lastLines(out, 3)))
		}
	}
	released := time.Now()
	c.ReleaseNote = strings.Join(notes, "; ")
	c.Freeze = released.Sub(start)
	time.Sleep(time.Second) // load goes on after the thaw
	cancel()
	wg.Wait()
	if bg != nil {
		_ = bg()
	}
	close(acks)
	<-collected
	c.Stall = MaxGap(all, start)
	c.Acks = len(all)
	if !c.Captured {
		return c
	}
	// The restore: the staged copy into a fresh directory, as the agent
	// writes a snapshot into a new volume.
	if out, err := exec.Command("cp", "-a", filepath.Join(stagingDir, "data"), restoreDir).CombinedOutput(); err != nil {
		t.Fatalf("copy staged data: %v %s", err, out)
	}
	defer os.RemoveAll(restoreDir)
	v := d.Verify(t.Context(), t, restoreDir)
	c.Started, c.ChecksOK, c.InvariantOK = v.Started, v.ChecksOK, v.InvariantOK
	if c.Note == "" {
		c.Note = v.Note
	}
	if v.Started {
		c.Missing, c.InFreeze = AckCheck(all, v.IDs, ready, releaseStart)
	} else {
		_, c.InFreeze = AckCheck(all, nil, ready, releaseStart)
	}
	return c
}
