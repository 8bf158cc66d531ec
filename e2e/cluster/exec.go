package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// ExecResult is what a command run in a container through the API server
// (and the node's kubelet streaming server) produced.
type ExecResult struct {
	Stdout, Stderr string
	// ExitCode is the command's exit status; -1 when the stream failed before
	// the status came back (then Exec returns an error too).
	ExitCode int
}

// Exec runs cmd in a container of a pod through the API server's exec
// subresource: WebSocket first, SPDY when the server does not upgrade (the
// same fallback kubectl uses). stdin may be nil.
func (c *Cluster) Exec(ctx context.Context, ns, pod, container string, stdin io.Reader, cmd ...string) (ExecResult, error) {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: cmd,
			Stdin: stdin != nil, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec in pod %s/%s: websocket executor: %w", ns, pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec in pod %s/%s: spdy executor: %w", ns, pod, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec in pod %s/%s: %w", ns, pod, err)
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: &stdout, Stderr: &stderr})
	res := ExecResult{Stdout: stdout.String(), Stderr: stderr.String()}
	if err == nil {
		return res, nil
	}
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		res.ExitCode = exit.ExitStatus()
		return res, nil
	}
	res.ExitCode = -1
	return res, fmt.Errorf("exec %q in pod %s/%s container %s: %w", cmd, ns, pod, container, err)
}
