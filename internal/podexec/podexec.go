// Package podexec runs a command in a pod's container through the API
// server's pods/exec subresource (client-go remotecommand: WebSocket first,
// SPDY when the server does not upgrade, as kubectl does). The coordinator
// uses it for backup-level hooks, which run once per backup from a Job on
// any node; pod hooks run through the node's containerd instead (see
// hook/README.md for why).
package podexec

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// Result is what a command produced: the tails of its output and its exit
// status.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// MaxOutput bounds the output kept of each stream (its tail).
const MaxOutput = 16 << 10

// Execer execs through the API server of Config.
type Execer struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// New returns an Execer for cfg.
func New(cfg *rest.Config) (*Execer, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes clientset: %w", err)
	}
	return &Execer{Config: cfg, Client: cs}, nil
}

// Exec runs cmd in container of pod ns/pod until it exits or ctx ends. A
// non-zero exit status is a Result, not an error; an error means the
// command's status is unknown (the stream failed, ctx ended). When ctx ends
// the stream is closed, but the process in the container is not killed:
// API-server exec has no way to.
func (e *Execer) Exec(ctx context.Context, ns, pod, container string, cmd []string) (Result, error) {
	req := e.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(e.Config, "GET", req.URL().String())
	if err != nil {
		return Result{}, fmt.Errorf("exec in pod %s/%s: websocket executor: %w", ns, pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(e.Config, "POST", req.URL())
	if err != nil {
		return Result{}, fmt.Errorf("exec in pod %s/%s: spdy executor: %w", ns, pod, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return Result{}, fmt.Errorf("exec in pod %s/%s: %w", ns, pod, err)
	}
	stdout, stderr := &Tail{Max: MaxOutput}, &Tail{Max: MaxOutput}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if err == nil {
		return res, nil
	}
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		res.ExitCode = exit.ExitStatus()
		return res, nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return res, fmt.Errorf("exec in pod %s/%s container %s: %w", ns, pod, container, err)
}

// Tail is an io.Writer that keeps the last Max bytes written.
type Tail struct {
	Max int
	buf []byte
	cut bool
}

func (t *Tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.Max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

// String returns the bytes kept, with "…" first when some were dropped.
func (t *Tail) String() string {
	if t.cut {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}
