package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// WaitFor polls cond every 250ms until it returns true, returns an error, or
// timeout passes; on timeout the error names what was awaited and the last
// state cond reported through its string.
func WaitFor(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string, error)) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, state, err := cond(ctx)
		last = state
		return ok, err
	})
	if err != nil {
		return fmt.Errorf("waiting %s for %s (last state: %s): %w", timeout, what, last, err)
	}
	return nil
}

// Namespace creates a fresh namespace for a test, waits until its default
// ServiceAccount exists (pods are rejected before that) and deletes it when
// the test ends.
func (c *Cluster) Namespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := t.Context()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: map[string]string{"quiesce.dev/e2e": "true"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s-*: %v", prefix, err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("QUIESCE_E2E_KEEP") == "1" {
			t.Logf("QUIESCE_E2E_KEEP=1: keeping namespace %s", ns.Name)
			return
		}
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns.Name, metav1.DeleteOptions{})
	})
	err = WaitFor(ctx, time.Minute, "service account "+ns.Name+"/default", func(ctx context.Context) (bool, string, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// WaitPod waits until the pod satisfies ok (e.g. PodReady, PodSucceeded).
func (c *Cluster) WaitPod(ctx context.Context, ns, name string, timeout time.Duration, ok func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := WaitFor(ctx, timeout, "pod "+ns+"/"+name, func(ctx context.Context) (bool, string, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		pod = p
		return ok(p), podState(p), nil
	})
	return pod, err
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodSucceeded reports whether the pod ran to completion with exit code 0.
func PodSucceeded(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded }

func podState(p *corev1.Pod) string {
	s := fmt.Sprintf("phase=%s node=%s", p.Status.Phase, p.Spec.NodeName)
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			s += fmt.Sprintf(" %s=waiting(%s: %s)", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil:
			s += fmt.Sprintf(" %s=terminated(%d %s)", cs.Name, cs.State.Terminated.ExitCode, cs.State.Terminated.Reason)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			s += fmt.Sprintf(" %s: %s", c.Type, c.Message)
		}
	}
	return s
}
