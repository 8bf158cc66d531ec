package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Containerd is a containerd daemon (with its CRI plugin and runc) that a
// test started, with its own config, root, state and socket under Dir.
type Containerd struct {
	Dir    string
	Socket string // path of the gRPC socket
	// Endpoint is Socket as a unix:// URL.
	Endpoint string
	// FIFODir is a directory for exec stdio FIFOs.
	FIFODir string
	// Flock is a static flock(1) mounted at /usr/bin/flock in every
	// container RunPod creates (busybox-static has none).
	Flock string
	// CRI talks to the daemon's CRI runtime service.
	CRI runtimeapi.RuntimeServiceClient

	conn   *grpc.ClientConn
	cmd    *exec.Cmd
	exited chan error
	logf   *os.File
}

const startTimeout = 30 * time.Second

// StartContainerd starts a containerd for t and stops it, with everything it
// started, in t.Cleanup. Use Start in TestMain to share one daemon between a
// package's tests.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	Integration(t, "containerd", "runc", "ctr", "buildah")
	c, err := Start(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// Start starts a containerd under dir (which Stop does not remove) and
// imports BusyboxImage and PauseImage into its k8s.io namespace.
func Start(ctx context.Context, dir string) (_ *Containerd, err error) {
	if err := Prerequisites("containerd", "runc", "ctr", "buildah"); err != nil {
		return nil, err
	}
	images, err := imageArchives()
	if err != nil {
		return nil, err
	}
	c := &Containerd{Dir: dir, Socket: filepath.Join(dir, "containerd.sock"), FIFODir: filepath.Join(dir, "fifo")}
	c.Endpoint = "unix://" + c.Socket
	if c.Flock, err = buildFlock(dir); err != nil {
		return nil, err
	}
	for _, d := range []string{"root", "state", "cni", "pods", "fifo"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(c.config()), 0o644); err != nil {
		return nil, err
	}
	if c.logf, err = os.Create(filepath.Join(dir, "containerd.log")); err != nil {
		return nil, err
	}
	c.cmd = exec.Command("containerd", "--config", cfg)
	c.cmd.Stdout = c.logf
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group, so a Ctrl-C of `go test` reaches us first and
	// we stop it in order.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		return nil, errf("start containerd: %w", err)
	}
	c.exited = make(chan error, 1)
	booted := make(chan struct{})
	go func() {
		// Copy the log to the file and watch for the boot line.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := false
		for sc.Scan() {
			fmt.Fprintln(c.logf, sc.Text())
			if !once && strings.Contains(sc.Text(), "containerd successfully booted") {
				once = true
				close(booted)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		c.exited <- c.cmd.Wait()
	}()
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	select {
	case <-booted:
	case err := <-c.exited:
		c.exited <- err
		return nil, errf("containerd exited while starting (%v); log: %s", err, c.logf.Name())
	case <-time.After(startTimeout):
		return nil, errf("containerd did not boot within %s; log: %s", startTimeout, c.logf.Name())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.conn, err = grpc.NewClient(c.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	c.CRI = runtimeapi.NewRuntimeServiceClient(c.conn)
	for _, img := range images {
		out, err := exec.CommandContext(ctx, "ctr", "-a", c.Socket, "-n", "k8s.io", "images", "import", img).CombinedOutput()
		if err != nil {
			return nil, errf("import %s: %v\n%s", img, err, out)
		}
	}
	return c, nil
}

func (c *Containerd) config() string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  level = "info"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = %[5]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[6]q
`, filepath.Join(c.Dir, "root"), filepath.Join(c.Dir, "state"), c.Socket, c.Socket+".ttrpc", PauseImage, filepath.Join(c.Dir, "cni"))
}

// Stop removes every pod, stops containerd, kills the shims it left (they
// outlive the daemon by design) and unmounts what is left under Dir.
func (c *Containerd) Stop() error {
	var errs []error
	if c.CRI != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		resp, err := c.CRI.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			errs = append(errs, errf("list pods: %w", err))
		} else {
			for _, s := range resp.Items {
				if _, err := c.CRI.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
					errs = append(errs, errf("stop pod %s: %w", s.Id, err))
				}
				if _, err := c.CRI.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
					errs = append(errs, errf("remove pod %s: %w", s.Id, err))
				}
			}
		}
		cancel()
		c.conn.Close()
	}
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	// Shims are started with "-address <our socket>": kill exactly those.
	for _, pid := range pidsWithArg(c.Socket) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	errs = append(errs, unmountUnder(c.Dir))
	if c.logf != nil {
		c.logf.Close()
	}
	return errors.Join(errs...)
}

// pidsWithArg lists processes with arg among their command-line arguments.
func pidsWithArg(arg string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && slices.Contains(strings.Split(string(b), "\x00"), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, errf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// RunMain is a test package's TestMain body: with integration tests on, it
// starts one containerd for the package into *env, runs the tests, calls
// check (may be nil) for a package-wide assertion after them, and stops
// containerd. It returns the exit code for os.Exit.
func RunMain(m *testing.M, prefix string, env **Containerd, check func(*Containerd) error) int {
	if os.Getenv(IntegrationEnv) != "1" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := Start(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*env = c
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	code := m.Run()
	if check != nil {
		if err := check(c); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
	}
	return code
}
