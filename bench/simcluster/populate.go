package simcluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Namespace is where the Backups, NodeBackups and agent pods live.
const Namespace = "quiesce"

// AgentLabel marks the agent pods (the coordinator's --agent-selector).
var AgentLabel = map[string]string{"app": "quiesce-agent"}

// Populate writes l to the API server: namespaces, Node objects, one
// Running agent pod per node (silent nodes too: their agent looks alive),
// the pods, bound and set Running as a kubelet would.
func Populate(ctx context.Context, c client.Client, l Layout) error {
	nss := map[string]bool{Namespace: true}
	for _, p := range l.Pods {
		nss[p.Namespace] = true
	}
	for ns := range nss {
		if err := create(ctx, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	var writes []func() error
	for _, n := range l.Nodes {
		writes = append(writes, func() error {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"type": "sim"}}}
			if err := create(ctx, c, node); err != nil {
				return err
			}
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			if err := c.Status().Update(ctx, node); err != nil {
				return fmt.Errorf("node %s status: %w", n, err)
			}
			ag := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "agent-" + n, Labels: AgentLabel},
				Spec: corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "agent", Image: "sim"}}}}
			return createRunning(ctx, c, ag)
		})
	}
	for i := range l.Pods {
		p := l.Pods[i].DeepCopy()
		writes = append(writes, func() error { return createRunning(ctx, c, p) })
	}
	return Parallel(16, writes)
}

// SpecHooks are the Backup's spec hooks: a pre hook in the pods labelled
// SpecHookLabel.
func SpecHooks() api.BackupHooks {
	return api.BackupHooks{Resources: []api.BackupResourceHookSpec{{Name: "sim-spec",
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{SpecHookLabel: "true"}},
		PreHooks:      []api.BackupResourceHook{{Exec: &api.ExecHook{Container: "app", Command: CmdSpec}}}}}}
}

// NewBackup is the simulated Backup: the layout's namespaces, the spec
// hooks.
func NewBackup(name string, l Layout, maxFreeze metav1.Duration) *api.Backup {
	seen := map[string]bool{}
	var nss []string
	for _, p := range l.Pods {
		if !seen[p.Namespace] {
			seen[p.Namespace] = true
			nss = append(nss, p.Namespace)
		}
	}
	return &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name},
		Spec: api.BackupSpec{IncludedNamespaces: nss, Hooks: SpecHooks(), MaxFreeze: &maxFreeze}}
}

func createRunning(ctx context.Context, c client.Client, p *corev1.Pod) error {
	if err := create(ctx, c, p); err != nil {
		return err
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if err := c.Status().Update(ctx, p); err != nil {
		return fmt.Errorf("pod %s/%s status: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func create(ctx context.Context, c client.Client, o client.Object) error {
	if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// Parallel runs fns, n at a time, and joins their errors.
func Parallel(n int, fns []func() error) error {
	sem := make(chan struct{}, n)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
