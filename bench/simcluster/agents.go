package simcluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quiesce-dev/quiesce/agent"
	"github.com/quiesce-dev/quiesce/agent/journal"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/cri/fake"
)

// Timing is how long the simulated work takes and how often it fails.
// Durations are drawn uniformly in the ranges, times Scale.
type Timing struct {
	Hook, Capture, Upload [2]time.Duration
	Scale                 float64
	// FailRate is the chance each hook, capture and upload fails.
	FailRate float64
}

// Realistic is the timing the scale targets are set for.
var Realistic = Timing{
	Hook:    [2]time.Duration{20 * time.Millisecond, 200 * time.Millisecond},
	Capture: [2]time.Duration{50 * time.Millisecond, 500 * time.Millisecond},
	Upload:  [2]time.Duration{time.Second, 5 * time.Second},
	Scale:   1,
}

func (t Timing) draw(r [2]time.Duration) time.Duration {
	d := r[0] + time.Duration(rand.Int64N(int64(r[1]-r[0])+1))
	return time.Duration(float64(d) * t.Scale)
}

func (t Timing) fails() bool { return t.FailRate > 0 && rand.Float64() < t.FailRate }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AgentOptions shape the simulated agents.
type AgentOptions struct {
	Config       *rest.Config
	Scheme       *runtime.Scheme
	Timing       Timing
	CaptureSlots int
	StateDir     string
	Log          *zap.Logger
	Trace        *Trace
}

// Agents are the running simulated agents.
type Agents struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	// Nodes holds each running agent's simulated work.
	Nodes map[string]*NodeStats
}

// NodeStats is one simulated node's work.
type NodeStats struct {
	// FreezeWork sums the hooks' and captures' simulated time (what holds
	// a capture slot); MaxUpload is its longest upload.
	FreezeWork, MaxUpload atomic.Int64
	// PeakCaptures is the most captures of ungrouped pods that ran at
	// once (group members take no capture slot: they freeze together).
	active, PeakCaptures atomic.Int64
}

func (n *NodeStats) captureStarted() {
	cur := n.active.Add(1)
	for {
		peak := n.PeakCaptures.Load()
		if cur <= peak || n.PeakCaptures.CompareAndSwap(peak, cur) {
			return
		}
	}
}

// StartAgents runs the real agent loop for every node of l but the silent
// ones, each with its own API client (its own watch), journal and fake
// runtime holding its pods' containers.
func StartAgents(ctx context.Context, l Layout, o AgentOptions) (*Agents, error) {
	c, err := client.New(o.Config, client.Options{Scheme: o.Scheme})
	if err != nil {
		return nil, err
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods); err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	byNode := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &Agents{cancel: cancel, Nodes: map[string]*NodeStats{}}
	for _, node := range l.Nodes {
		if l.Silent[node] {
			continue
		}
		// client-go's default rate, as `quiesce agent` has.
		cfg := rest.CopyConfig(o.Config)
		cfg.QPS, cfg.Burst = 0, 0
		ac, err := client.NewWithWatch(cfg, client.Options{Scheme: o.Scheme})
		if err != nil {
			cancel()
			return nil, err
		}
		j, err := journal.Open(filepath.Join(o.StateDir, node, "journal"))
		if err != nil {
			cancel()
			return nil, err
		}
		stats := &NodeStats{}
		a.Nodes[node] = stats
		rt := runtimeOf(o.Timing, byNode[node], stats)
		log := o.Log.With(zap.String("node", node))
		ag := &agent.Agent{Node: node, Namespace: Namespace, Client: ac, Journal: j,
			Hooks:        tracedHooks{inner: &agent.CRIHooks{Runtime: rt, Log: log}, trace: o.Trace},
			Volumes:      &fakeVolumes{t: o.Timing, trace: o.Trace, stats: stats},
			CaptureSlots: max(1, o.CaptureSlots), Log: log}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := ag.Run(actx); err != nil {
				a.mu.Lock()
				a.errs = append(a.errs, fmt.Errorf("agent %s: %w", node, err))
				a.mu.Unlock()
			}
		}()
	}
	return a, nil
}

// Stop ends the agents and waits for them.
func (a *Agents) Stop() error {
	a.cancel()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return errors.Join(a.errs...)
}

// runtimeOf is a fake container runtime holding pods' containers, whose
// hook commands take Timing.Hook and fail at its rate.
func runtimeOf(t Timing, pods []corev1.Pod, stats *NodeStats) *fake.Runtime {
	rt := fake.New()
	for _, p := range pods {
		for _, ct := range p.Spec.Containers {
			rt.AddContainer(cri.ContainerRef{PodUID: string(p.UID), PodNamespace: p.Namespace, PodName: p.Name, Container: ct.Name}, true)
		}
	}
	prog := func(ctx context.Context, stdio fake.Stdio) int {
		d := t.draw(t.Hook)
		stats.FreezeWork.Add(int64(d))
		if sleep(ctx, d) != nil {
			return 137
		}
		if t.fails() {
			return 1
		}
		return 0
	}
	for _, cmd := range [][]string{CmdFlush, CmdUnflush, CmdLock, CmdUnlock, CmdSpec} {
		rt.Script(cmd, prog)
	}
	return rt
}

// fakeVolumes captures and uploads nothing, taking Timing's time.
type fakeVolumes struct {
	t     Timing
	trace *Trace
	stats *NodeStats
}

func (v *fakeVolumes) Capture(ctx context.Context, b agent.BackupRef, pod *api.PodAssignment, _ bool) ([]api.VolumeResult, error) {
	v.trace.add(b.Name, pod, StepCapture)
	if pod.Group == nil {
		v.stats.captureStarted()
		defer v.stats.active.Add(-1)
	}
	d := v.t.draw(v.t.Capture)
	v.stats.FreezeWork.Add(int64(d))
	if err := sleep(ctx, d); err != nil {
		return nil, err
	}
	if v.t.fails() {
		return nil, errors.New("simulated capture failure")
	}
	var out []api.VolumeResult
	for _, vol := range pod.Volumes {
		out = append(out, api.VolumeResult{Name: vol.Name, Files: 10, Bytes: 1 << 20, Capture: metav1Duration(d)})
	}
	return out, nil
}

func (v *fakeVolumes) Upload(ctx context.Context, _ agent.BackupRef, pod *api.PodAssignment, captured []api.VolumeResult) ([]api.VolumeResult, error) {
	d := v.t.draw(v.t.Upload)
	for {
		m := v.stats.MaxUpload.Load()
		if int64(d) <= m || v.stats.MaxUpload.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	if err := sleep(ctx, d); err != nil {
		return nil, err
	}
	if v.t.fails() {
		return nil, errors.New("simulated upload failure")
	}
	out := make([]api.VolumeResult, len(captured))
	for i, c := range captured {
		c.SnapshotID = fmt.Sprintf("sim-%s-%s", pod.UID, c.Name)
		c.Upload = metav1Duration(d)
		out[i] = c
	}
	return out, nil
}

// tracedHooks records, in one order across agents, when each pod's
// freeze and thaw start and end.
type tracedHooks struct {
	inner agent.Hooks
	trace *Trace
}

func (h tracedHooks) Freeze(ctx context.Context, backup string, pod *api.PodAssignment) (agent.Thaw, []api.HookResult, bool) {
	h.trace.add(backup, pod, StepFreezeStart)
	thaw, res, ok := h.inner.Freeze(ctx, backup, pod)
	h.trace.add(backup, pod, StepFrozen)
	return func(ctx context.Context, captureOK bool) ([]api.HookResult, bool) {
		h.trace.add(backup, pod, StepThawStart)
		r, ok := thaw(ctx, captureOK)
		h.trace.add(backup, pod, StepThawed)
		return r, ok
	}, res, ok
}

func (h tracedHooks) ThawOnly(ctx context.Context, backup string, pod *api.PodAssignment) ([]api.HookResult, bool) {
	return h.inner.ThawOnly(ctx, backup, pod)
}
