package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// ErrLeaseLost: the cluster is shared, and the lease file no longer names
// this run's holder; the harness stops touching the cluster.
var ErrLeaseLost = errors.New("cluster lease lost")

// env is everything a run talks to.
type env struct {
	c       *cluster.Cluster
	cl      client.Client     // quiesce's types and core
	dyn     dynamic.Interface // Velero's types, unstructured
	s3      *s3Server
	o       options
	logf    func(format string, args ...any)
	cleanup []func(context.Context)
}

func newEnv(ctx context.Context, o options) (*env, error) {
	e := &env{o: o, logf: func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(f, a...))
	}}
	if err := e.lease(); err != nil {
		return nil, err
	}
	os.Setenv("QUIESCE_E2E_NO_UP", "1")
	os.Setenv("KUBECONFIG", o.kubeconfig)
	c, err := cluster.Up(ctx)
	if err != nil {
		return nil, err
	}
	e.c = c
	ctrllog.SetLogger(logr.Discard())
	s := runtime.NewScheme()
	if err := api.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if e.cl, err = client.New(c.Config, client.Options{Scheme: s}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if e.dyn, err = dynamic.NewForConfig(c.Config); err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	return e, nil
}

// lease checks, before each step that touches the cluster, that the lease
// file (when one is given) still names this run.
func (e *env) lease() error {
	if e.o.leaseFile == "" {
		return nil
	}
	b, err := os.ReadFile(e.o.leaseFile)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLeaseLost, err)
	}
	if got := strings.TrimSpace(string(b)); got != e.o.leaseHolder {
		return fmt.Errorf("%w: %s says %q, not %q", ErrLeaseLost, e.o.leaseFile, got, e.o.leaseHolder)
	}
	return nil
}

// defer registers a cleanup step; they run last-in first-out, each with
// its own deadline, whatever failed before.
func (e *env) onCleanup(f func(context.Context)) { e.cleanup = append(e.cleanup, f) }

func (e *env) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		e.cleanup[i](ctx)
		cancel()
	}
}

// run runs a command and returns its combined output; the error carries it.
func run(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = os.Environ()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out.String(), 4000))
	}
	return out.String(), nil
}

func (e *env) kubectl(ctx context.Context, stdin []byte, args ...string) (string, error) {
	return run(ctx, stdin, e.o.kubectl, append([]string{"--kubeconfig", e.o.kubeconfig}, args...)...)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
