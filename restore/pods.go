package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/kwait"
	"github.com/quiesce-dev/quiesce/restore/plan"
)

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// trackedPod is a pod this restore created with work for its node's agent.
type trackedPod struct {
	work plan.PodWork
	uid  types.UID
}

func (p trackedPod) key() string { return objName(p.work.Namespace, p.work.Name) }

// follower hands the restored pods to their nodes' agents as the scheduler
// places them, one NodeRestore per node, and follows the agents' reports.
// Each round works from what it reads (pods, NodeRestores), so a restarted
// runner carries on from the NodeRestores that exist.
type follower struct {
	r       *Runner
	rs      *api.Restore
	rep     *report
	log     *zap.Logger
	pods    []trackedPod
	timeout time.Duration
	// gone holds pods that failed before any agent had them, by UID.
	gone map[types.UID]string
	// Written by each round, read when the restore ends.
	results []api.RestorePodResult
	names   []string
	// seen holds the versions of the pods and NodeRestores the last round read.
	seen kwait.Seen
}

// restorePods follows the pods with work until every one is final or the
// deadline of ctx, then writes the Restore's final status.
func (r *Runner) restorePods(ctx context.Context, rs *api.Restore, works []plan.PodWork, a *applier, timeout time.Duration, log *zap.Logger) error {
	f := &follower{r: r, rs: rs, rep: a.rep, log: log, timeout: timeout, gone: map[types.UID]string{}}
	for _, w := range works {
		if len(w.Volumes) == 0 && len(w.Hooks) == 0 {
			continue
		}
		key := objName(w.Namespace, w.Name)
		uid, ok := a.uids[key]
		if !ok {
			why := "it was not in the restored objects"
			if o, seen := a.outcomes[key]; seen {
				why = "its outcome was " + string(o)
			}
			f.rep.warnf("pod %s was not created by this restore (%s): its volume data is not restored and its post-restore hooks do not run", key, why)
			continue
		}
		f.pods = append(f.pods, trackedPod{work: w, uid: uid})
	}
	var err error
	if len(f.pods) > 0 {
		err = kwait.Until(ctx, f.open, func(ctx context.Context) (bool, kwait.Seen, error) {
			done, err := f.round(ctx, false)
			return done, f.seen, err
		})
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err != nil {
		if !timedOut(ctx) {
			return err
		}
		// The deadline: whatever is not final now fails with why.
		if _, err := f.round(cctx, true); err != nil {
			return err
		}
	}
	return f.finish(cctx)
}

func (f *follower) selector() string { return api.LabelRestore + "=" + f.rs.Name }

func (f *follower) open(ctx context.Context) ([]watch.Interface, error) {
	pw, err := f.r.Dynamic.Resource(podsGVR).Watch(ctx, metav1.ListOptions{LabelSelector: f.selector(), ResourceVersion: kwait.FromCache})
	if err != nil {
		return nil, fmt.Errorf("watch restored pods (%s): %w", f.selector(), err)
	}
	nw, err := f.r.Client.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace(f.rs.Namespace), client.MatchingLabels{api.LabelRestore: f.rs.Name},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: kwait.FromCache}})
	if err != nil {
		pw.Stop()
		return nil, fmt.Errorf("watch noderestores of restore %s/%s: %w", f.rs.Namespace, f.rs.Name, err)
	}
	return []watch.Interface{pw, nw}, nil
}

// round reads the pods and NodeRestores, assigns newly scheduled pods to
// their nodes, and writes the pods' status. It reports whether every pod is
// final. With expired (the deadline passed), pods not final fail.
func (f *follower) round(ctx context.Context, expired bool) (bool, error) {
	f.seen = kwait.Seen{}
	pods, err := f.readPods(ctx)
	if err != nil {
		return false, err
	}
	var list api.NodeRestoreList
	if err := f.r.Client.List(ctx, &list, client.InNamespace(f.rs.Namespace), client.MatchingLabels{api.LabelRestore: f.rs.Name}); err != nil {
		return false, fmt.Errorf("list noderestores of restore %s/%s: %w", f.rs.Namespace, f.rs.Name, err)
	}
	for i := range list.Items {
		f.seen.Add(&list.Items[i])
	}
	byNode := map[string]*api.NodeRestore{}
	assigned := map[types.UID]*api.NodeRestore{}
	for i := range list.Items {
		nr := &list.Items[i]
		byNode[nr.Spec.NodeName] = nr
		for _, a := range nr.Spec.Pods {
			assigned[types.UID(a.UID)] = nr
		}
	}

	toAssign := map[string][]trackedPod{}
	var results []api.RestorePodResult
	for _, p := range f.pods {
		if nr := assigned[p.uid]; nr != nil {
			results = append(results, f.agentResult(p, nr, expired))
			continue
		}
		res := api.RestorePodResult{Namespace: p.work.Namespace, Name: p.work.Name, UID: string(p.uid), Phase: api.RestorePodPending}
		pod := pods[p.key()]
		switch {
		case f.gone[p.uid] != "":
			res.Phase, res.Reason = api.RestorePodFailed, f.gone[p.uid]
		case pod == nil || pod.GetUID() != p.uid:
			f.gone[p.uid] = "the pod was deleted before it was scheduled: its volume data was not restored"
			res.Phase, res.Reason = api.RestorePodFailed, f.gone[p.uid]
			f.log.Warn("restored pod gone", zap.String("pod", p.key()))
		case nodeName(pod) != "" && !expired:
			toAssign[nodeName(pod)] = append(toAssign[nodeName(pod)], p)
			res.Node, res.Reason = nodeName(pod), "assigning to the agent on node "+nodeName(pod)
		case expired && nodeName(pod) != "":
			res.Phase, res.Node = api.RestorePodFailed, nodeName(pod)
			res.Reason = fmt.Sprintf("scheduled to node %s, but the restore timed out after %s before its agent was assigned the pod", res.Node, f.timeout)
		case expired:
			res.Phase, res.Reason = api.RestorePodFailed, fmt.Sprintf("not scheduled within the restore timeout %s%s", f.timeout, schedulingMessage(pod))
		default:
			res.Reason = "waiting to be scheduled" + schedulingMessage(pod)
		}
		results = append(results, res)
	}

	nodes := make([]string, 0, len(toAssign))
	for n := range toAssign {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, node := range nodes {
		if err := f.assign(ctx, node, toAssign[node], byNode[node]); err != nil {
			return false, err
		}
	}
	names := make([]string, 0, len(byNode)+len(nodes))
	for _, nr := range byNode {
		names = append(names, nr.Name)
	}
	for _, n := range nodes {
		if byNode[n] == nil {
			names = append(names, nodeRestoreName(f.rs.Name, n))
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	f.results, f.names = results, names
	if err := f.r.updateStatus(ctx, f.rs, f.fill); err != nil {
		return false, err
	}
	done := len(nodes) == 0
	for _, res := range results {
		done = done && finalPod(res.Phase)
	}
	return done, nil
}

// agentResult is the pod's result as its agent reports it; once expired,
// a pod not final fails with what it was waiting for.
func (f *follower) agentResult(p trackedPod, nr *api.NodeRestore, expired bool) api.RestorePodResult {
	res := api.RestorePodResult{Namespace: p.work.Namespace, Name: p.work.Name, UID: string(p.uid), Node: nr.Spec.NodeName, Phase: api.RestorePodPending}
	for _, r := range nr.Status.Pods {
		if r.UID == string(p.uid) {
			res = *r.DeepCopy()
			res.Node = nr.Spec.NodeName
			break
		}
	}
	if expired && !finalPod(res.Phase) {
		last := string(res.Phase)
		if res.Reason != "" {
			last += " (" + res.Reason + ")"
		}
		res.Phase = api.RestorePodFailed
		res.Reason = fmt.Sprintf("timed out after %s waiting for the agent on node %s: %s", f.timeout, nr.Spec.NodeName, last)
	}
	return res
}

// assign adds pods to the node's NodeRestore, creating it the first time.
func (f *follower) assign(ctx context.Context, node string, pods []trackedPod, nr *api.NodeRestore) error {
	as := make([]api.RestorePodAssignment, 0, len(pods))
	for _, p := range pods {
		as = append(as, f.assignment(p))
	}
	log := f.log.With(zap.String("node", node))
	if nr == nil {
		nr = &api.NodeRestore{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.rs.Namespace, Name: nodeRestoreName(f.rs.Name, node),
				Labels: map[string]string{api.LabelRestore: f.rs.Name, api.LabelNode: node}},
			Spec: api.NodeRestoreSpec{RestoreName: f.rs.Name, RestoreUID: string(f.rs.UID), NodeName: node,
				Deadline: metav1.NewTime(f.deadline()), Pods: as},
		}
		if err := controllerutil.SetControllerReference(f.rs, nr, f.r.Client.Scheme()); err != nil {
			return fmt.Errorf("noderestore %s: %w", nr.Name, err)
		}
		// AlreadyExists: an earlier runner wrote it; the next round reads it.
		if err := f.r.Client.Create(ctx, nr); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("restore %s/%s: create noderestore %s: %w", f.rs.Namespace, f.rs.Name, nr.Name, err)
		}
	} else {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var cur api.NodeRestore
			if err := f.r.Client.Get(ctx, client.ObjectKeyFromObject(nr), &cur); err != nil {
				return err
			}
			for _, a := range as {
				if !slices.ContainsFunc(cur.Spec.Pods, func(b api.RestorePodAssignment) bool { return b.UID == a.UID }) {
					cur.Spec.Pods = append(cur.Spec.Pods, a)
				}
			}
			return f.r.Client.Update(ctx, &cur)
		})
		if err != nil {
			return fmt.Errorf("restore %s/%s: add pods to noderestore %s: %w", f.rs.Namespace, f.rs.Name, nr.Name, err)
		}
	}
	for _, a := range as {
		log.Info("assigned restored pod to its node's agent", zap.String("pod", objName(a.Namespace, a.Name)),
			zap.String("nodeRestore", nr.Name), zap.Int("volumes", len(a.Volumes)), zap.Int("hooks", len(a.Hooks)))
	}
	return nil
}

func (f *follower) assignment(p trackedPod) api.RestorePodAssignment {
	a := api.RestorePodAssignment{Namespace: p.work.Namespace, Name: p.work.Name, UID: string(p.uid),
		Volumes: slices.Clone(p.work.Volumes), Hooks: slices.Clone(p.work.Hooks)}
	// A hook never waits past the restore's deadline.
	left := max(f.deadline().Sub(f.r.now()), time.Second)
	for i := range a.Hooks {
		if w := &a.Hooks[i].WaitTimeout; w.Duration <= 0 || w.Duration > left {
			w.Duration = left
		}
	}
	return a
}

func (f *follower) deadline() time.Time { return f.rs.Status.StartTimestamp.Add(f.timeout) }

// readPods returns the tracked pods as they are, by "namespace/name"; a
// pod that is gone is missing.
func (f *follower) readPods(ctx context.Context) (map[string]*unstructured.Unstructured, error) {
	list, err := f.r.Dynamic.Resource(podsGVR).List(ctx, metav1.ListOptions{LabelSelector: f.selector()})
	if err != nil {
		return nil, fmt.Errorf("list restored pods (%s): %w", f.selector(), err)
	}
	out := map[string]*unstructured.Unstructured{}
	for i := range list.Items {
		f.seen.Add(&list.Items[i])
		out[objName(list.Items[i].GetNamespace(), list.Items[i].GetName())] = &list.Items[i]
	}
	for _, p := range f.pods {
		if _, ok := out[p.key()]; ok || f.gone[p.uid] != "" {
			continue
		}
		// Not labelled as this restore's (changed since): read it by name.
		pod, err := f.r.Dynamic.Resource(podsGVR).Namespace(p.work.Namespace).Get(ctx, p.work.Name, metav1.GetOptions{})
		switch {
		case err == nil:
			out[p.key()] = pod
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("pod %s: %w", p.key(), err)
		}
	}
	return out, nil
}

// fill writes what the runner knows into the Restore's status.
func (f *follower) fill(st *api.RestoreStatus) {
	f.rep.apply(st)
	st.NodeRestores = slices.Clone(f.names)
	st.Pods = slices.Clone(f.results)
	st.HooksAttempted, st.HooksFailed = 0, 0
	for _, p := range f.results {
		for _, h := range p.Hooks {
			if !h.Skipped {
				st.HooksAttempted++
			}
			if h.Failed() {
				st.HooksFailed++
			}
		}
		if p.Phase == api.RestorePodFailed || p.Phase == api.RestorePodPartiallyFailed {
			st.Errors = append(st.Errors, fmt.Sprintf("pod %s: %s", objName(p.Namespace, p.Name), podReason(p)))
		}
	}
}

// finish writes the final phase.
func (f *follower) finish(ctx context.Context) error {
	now := metav1.NewTime(f.r.now())
	err := f.r.updateStatus(ctx, f.rs, func(st *api.RestoreStatus) {
		f.fill(st)
		switch {
		case len(st.Errors) == 0:
			st.Phase = api.RestorePhaseCompleted
		case f.rep.total > 0 && f.rep.restored == 0 && len(st.Pods) == 0:
			st.Phase = api.RestorePhaseFailed
			st.FailureReason = fmt.Sprintf("none of the backup's %d objects could be restored: %s", f.rep.total, st.Errors[0])
		default:
			st.Phase = api.RestorePhasePartiallyFailed
		}
		st.CompletionTimestamp = &now
	})
	if err != nil {
		return err
	}
	st := f.rs.Status
	for _, p := range st.Pods {
		if p.Phase == api.RestorePodFailed || p.Phase == api.RestorePodPartiallyFailed {
			f.r.event(f.rs, corev1.EventTypeWarning, "RestorePod"+string(p.Phase), "pod %s on node %s: %s", objName(p.Namespace, p.Name), orDash(p.Node), podReason(p))
			f.log.Warn("restored pod not complete", zap.String("pod", objName(p.Namespace, p.Name)), zap.String("node", p.Node),
				zap.String("phase", string(p.Phase)), zap.String("reason", podReason(p)))
		}
	}
	typ, msg := corev1.EventTypeNormal, fmt.Sprintf("%d of %d objects restored, %d pods, %d hooks failed, %d errors, %d warnings",
		st.Progress.ItemsRestored, st.Progress.TotalItems, len(st.Pods), st.HooksFailed, len(st.Errors), len(st.Warnings))
	if st.Phase != api.RestorePhaseCompleted {
		typ, msg = corev1.EventTypeWarning, msg+": "+st.Errors[0]
	}
	f.r.event(f.rs, typ, "Restore"+string(st.Phase), "%s", msg)
	f.log.Info("restore finished", zap.String("phase", string(st.Phase)), zap.Int("items", st.Progress.TotalItems),
		zap.Int("itemsRestored", st.Progress.ItemsRestored), zap.Int("pods", len(st.Pods)), zap.Int("hooksFailed", st.HooksFailed),
		zap.Int("errors", len(st.Errors)), zap.Int("warnings", len(st.Warnings)))
	return nil
}

// podReason is the reason of a failed or partially failed pod, naming the
// failed volumes and hooks when the agent gave none.
func podReason(p api.RestorePodResult) string {
	if p.Reason != "" {
		return p.Reason
	}
	var why []string
	for _, v := range p.Volumes {
		if v.Error != "" {
			why = append(why, fmt.Sprintf("volume %s: %s", v.Name, v.Error))
		}
	}
	for _, h := range p.Hooks {
		if h.Failed() {
			why = append(why, fmt.Sprintf("hook %s in container %s: %s", h.Name, h.Container, h.Outcome()))
		}
	}
	if len(why) == 0 {
		return strings.ToLower(string(p.Phase))
	}
	return strings.Join(why, "; ")
}

func nodeName(pod *unstructured.Unstructured) string {
	n, _, _ := unstructured.NestedString(pod.Object, "spec", "nodeName")
	return n
}

// schedulingMessage is the scheduler's word on a pending pod, if any.
func schedulingMessage(pod *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(pod.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != string(corev1.PodScheduled) || m["status"] == "True" {
			continue
		}
		msg, _ := m["message"].(string)
		if reason, _ := m["reason"].(string); reason != "" {
			msg = strings.TrimSpace(reason + " " + msg)
		}
		if msg != "" {
			return ": " + msg
		}
	}
	return ""
}

// nodeRestoreName is "<restore>-<node>", shortened with a hash to 63
// characters so that any restore and node name fit.
func nodeRestoreName(restore, node string) string {
	n := restore + "-" + node
	if len(n) <= 63 {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return strings.TrimRight(n[:52], "-.") + "-" + hex.EncodeToString(sum[:])[:10]
}

func finalPod(p api.RestorePodPhase) bool {
	return p == api.RestorePodCompleted || p == api.RestorePodPartiallyFailed || p == api.RestorePodFailed
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
