package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apiRequests is the API server's apiserver_request_total summed over every
// label (verb, resource, code, ...): each request it has served.
func (e *env) apiRequests(ctx context.Context) (float64, error) {
	raw, err := e.c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("API server metrics: %w", err)
	}
	var total float64
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("API server metrics: %q: %w", line, err)
		}
		total += v
	}
	return total, sc.Err()
}

// agentProc is a node agent's main process, seen from the host (the nodes
// share the host's PID namespace).
type agentProc struct {
	Node string
	PID  int
}

// agents finds the host PIDs of a tool's node agents: the container ID in
// the pod status names the runc shim's init.pid under the node's
// /run/containerd.
func (e *env) agents(ctx context.Context, tool string) ([]agentProc, error) {
	ns, sel, ctr := quiesceNS, "app.kubernetes.io/component=agent", "agent"
	if tool == toolVelero {
		ns, sel, ctr = veleroNS, "name=node-agent", "node-agent"
	}
	pods, err := e.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("%s agents: %w", tool, err)
	}
	var out []agentProc
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != ctr {
				continue
			}
			id := strings.TrimPrefix(cs.ContainerID, "containerd://")
			f := filepath.Join(e.c.State, "nodes", p.Spec.NodeName, "run/containerd/io.containerd.runtime.v2.task/k8s.io", id, "init.pid")
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s agent on %s: %w", tool, p.Spec.NodeName, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return nil, fmt.Errorf("%s agent on %s: pid %q: %w", tool, p.Spec.NodeName, b, err)
			}
			out = append(out, agentProc{Node: p.Spec.NodeName, PID: pid})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s agents: no running %s container in %s (%s)", tool, ctr, ns, sel)
	}
	return out, nil
}

// resetPeak resets the process's peak RSS (VmHWM) to its current RSS, so
// that a run's peak is its own (proc(5), clear_refs "5").
func resetPeak(a agentProc) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", a.PID), []byte("5"), 0)
}

// peakRSS is the process's VmHWM, in bytes.
func peakRSS(a agentProc) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.PID))
	if err != nil {
		return 0, fmt.Errorf("agent on %s: %w", a.Node, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("agent on %s: VmHWM %q: %w", a.Node, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("agent on %s: no VmHWM in /proc/%d/status", a.Node, a.PID)
}
