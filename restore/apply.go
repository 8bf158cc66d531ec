package restore

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/kwait"
	"github.com/quiesce-dev/quiesce/resources"
	"github.com/quiesce-dev/quiesce/restore/plan"
)

// progressEvery is how many objects are applied between progress writes.
const progressEvery = 25

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// applier creates a plan's objects in order and records what happened.
type applier struct {
	r   *Runner
	rs  *api.Restore
	rep *report
	log *zap.Logger
	// taken maps a PersistentVolume that exists, claimed by another claim,
	// to that claim: a restored claim naming it is restored unbound.
	taken map[string]string
	// uids holds the pods this restore created ("namespace/name").
	uids map[string]types.UID
	// outcomes holds every pod's outcome ("namespace/name").
	outcomes map[string]api.RestoreItemOutcome
}

func (a *applier) apply(ctx context.Context, steps []plan.Step) error {
	a.rep.total = len(steps)
	for i, s := range steps {
		if ctx.Err() != nil {
			if !timedOut(ctx) {
				return ctx.Err()
			}
			a.rep.errors = append(a.rep.errors, fmt.Sprintf("restore timed out after %s: %d of %d objects not applied",
				restoreTimeout(a.rs), len(steps)-i, len(steps)))
			break
		}
		it := a.step(ctx, s)
		a.rep.item(it)
		if isPod(s.Item) {
			a.outcomes[objName(it.Namespace, it.Name)] = it.Outcome
		}
		log := a.log.With(zap.String("resource", it.Resource), zap.String("namespace", it.Namespace), zap.String("name", it.Name),
			zap.String("outcome", string(it.Outcome)))
		switch it.Outcome {
		case api.ItemCreated:
			log.Debug("object created")
		case api.ItemFailed:
			log.Warn("object not restored", zap.String("error", it.Message))
			a.r.event(a.rs, corev1.EventTypeWarning, "RestoreItemFailed", "%s %s: %s", it.Resource, objName(it.Namespace, it.Name), it.Message)
		default:
			log.Info("object not created", zap.String("message", it.Message))
		}
		if (i+1)%progressEvery == 0 {
			if err := a.r.updateStatus(ctx, a.rs, a.rep.apply); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
	wctx, cancel := cleanupContext(ctx)
	defer cancel()
	return a.r.updateStatus(wctx, a.rs, a.rep.apply)
}

// step creates one object; on AlreadyExists it applies the policy.
func (a *applier) step(ctx context.Context, s plan.Step) api.RestoredItem {
	obj := s.Item.Object.DeepCopy()
	it := api.RestoredItem{Resource: s.Item.GroupResource(), Namespace: obj.GetNamespace(), Name: obj.GetName()}
	if isCore(s.Item, "persistentvolumeclaims") {
		a.unbindTaken(obj)
	}
	ri := a.resource(s.Item, obj.GetNamespace())
	created, err := ri.Create(ctx, obj, metav1.CreateOptions{})
	switch {
	case err == nil:
		it.Outcome, it.Name = api.ItemCreated, created.GetName() // generateName
		if isPod(s.Item) {
			a.uids[objName(it.Namespace, it.Name)] = created.GetUID()
		}
	case apierrors.IsAlreadyExists(err):
		a.existing(ctx, s, obj, ri, &it)
	default:
		it.Outcome, it.Message = api.ItemFailed, "create: "+err.Error()
	}
	if s.WaitEstablished && it.Outcome != api.ItemFailed {
		if err := a.waitEstablished(ctx, it.Name); err != nil {
			it.Outcome, it.Message = api.ItemFailed, fmt.Sprintf("%s: not established: %v (later custom resources of it cannot be created)",
				joinMsg(it.Message, string(it.Outcome)), err)
		}
	}
	return it
}

// existing decides what to do with an object that is already there.
func (a *applier) existing(ctx context.Context, s plan.Step, obj *unstructured.Unstructured, ri dynamic.ResourceInterface, it *api.RestoredItem) {
	cur, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		it.Outcome, it.Message = api.ItemFailed, "exists, but reading it failed: "+err.Error()
		return
	}
	if isCore(s.Item, "namespaces") && isTerminating(cur) {
		// Deleted just before the restore: wait until it is gone, then
		// create it, or everything restored into it would be refused.
		if err := a.waitGone(ctx, ri, obj.GetName()); err != nil {
			it.Outcome, it.Message = api.ItemFailed, fmt.Sprintf("namespace is being deleted; waited for it to go: %v", err)
			return
		}
		if created, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			it.Outcome, it.Message = api.ItemFailed, "create after the old namespace was deleted: "+err.Error()
		} else {
			it.Outcome, it.Name = api.ItemCreated, created.GetName()
		}
		return
	}
	if cur.GetLabels()[api.LabelRestore] == a.rs.Name {
		// Created by an earlier run of this Restore (a restarted runner).
		it.Outcome = api.ItemCreated
		if isPod(s.Item) {
			a.uids[objName(it.Namespace, it.Name)] = cur.GetUID()
		}
		return
	}
	if isCore(s.Item, "persistentvolumes") && a.existingPV(ctx, ri, obj, cur, it) {
		return
	}
	if a.rs.Spec.ExistingResourcePolicy != api.ExistingResourcePolicyUpdate {
		it.Outcome, it.Message = api.ItemExisted, "already exists: left as it is"
		return
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	if _, err := ri.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		it.Outcome, it.Message = api.ItemExisted, "already exists; update rejected, left as it is: "+err.Error()
		a.rep.warnf("%s %s: existingResourcePolicy update: update rejected, left as it is: %v", it.Resource, objName(it.Namespace, it.Name), err)
		return
	}
	it.Outcome, it.Message = api.ItemUpdated, "already existed: updated (existingResourcePolicy update)"
}

// existingPV handles a PersistentVolume that exists whatever the policy, as
// that decides whether its restored claim can bind. A Released volume of the
// same claim gets its stale claimRef uid cleared, so the restored claim binds
// to it; a volume claimed by another claim stays as it is and the restored
// claim goes without spec.volumeName. It reports whether it handled cur.
func (a *applier) existingPV(ctx context.Context, ri dynamic.ResourceInterface, obj, cur *unstructured.Unstructured, it *api.RestoredItem) bool {
	wantNS, wantName := claimRef(obj)
	curNS, curName := claimRef(cur)
	if wantName == "" || curName == "" {
		return false
	}
	phase, _, _ := unstructured.NestedString(cur.Object, "status", "phase")
	want := objName(wantNS, wantName)
	if curNS == wantNS && curName == wantName {
		if phase != string(corev1.VolumeReleased) {
			return false
		}
		unstructured.RemoveNestedField(cur.Object, "spec", "claimRef", "uid")
		unstructured.RemoveNestedField(cur.Object, "spec", "claimRef", "resourceVersion")
		// Labelled like the objects this restore creates: a resumed run
		// takes it as its own.
		l := cur.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[api.LabelRestore] = a.rs.Name
		cur.SetLabels(l)
		if _, err := ri.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			it.Outcome, it.Message = api.ItemFailed, fmt.Sprintf("volume is Released: clear its claimRef uid so claim %s can bind: %v", want, err)
			return true
		}
		it.Outcome, it.Message = api.ItemUpdated, fmt.Sprintf("volume was Released: cleared its claimRef uid so the restored claim %s binds to it", want)
		return true
	}
	holder := objName(curNS, curName)
	a.taken[cur.GetName()] = holder
	a.rep.warnf("persistentvolume %s (%s) is claimed by %s, not by the restored claim %s: that claim is restored without spec.volumeName and binds only if its storage class provisions a new volume",
		cur.GetName(), orUnknown(phase), holder, want)
	it.Outcome, it.Message = api.ItemExisted, fmt.Sprintf("claimed by %s (%s): left as it is", holder, orUnknown(phase))
	return true
}

// unbindTaken drops spec.volumeName of a claim whose volume another claim
// holds, so the claim can get a new volume instead of staying Pending.
func (a *applier) unbindTaken(obj *unstructured.Unstructured) {
	vol, _, _ := unstructured.NestedString(obj.Object, "spec", "volumeName")
	holder, ok := a.taken[vol]
	if vol == "" || !ok {
		return
	}
	unstructured.RemoveNestedField(obj.Object, "spec", "volumeName")
	ann := obj.GetAnnotations()
	delete(ann, "pv.kubernetes.io/bind-completed")
	delete(ann, "pv.kubernetes.io/bound-by-controller")
	obj.SetAnnotations(ann)
	sc, _, _ := unstructured.NestedString(obj.Object, "spec", "storageClassName")
	a.rep.warnf("persistentvolumeclaim %s: its volume %s is claimed by %s, so it is restored without spec.volumeName: it needs a provisioner for storage class %q",
		objName(obj.GetNamespace(), obj.GetName()), vol, holder, sc)
}

// waitEstablished waits until the CustomResourceDefinition name serves its
// resources.
func (a *applier) waitEstablished(ctx context.Context, name string) error {
	start := a.r.now()
	err := waitObject(ctx, a.r.Dynamic.Resource(crdGVR), name, func(cur *unstructured.Unstructured, err error) (bool, error) {
		return err == nil && established(cur), err
	})
	if err == nil {
		a.log.Info("custom resource definition established", zap.String("name", name), zap.Duration("duration", a.r.now().Sub(start)))
	}
	return err
}

// waitGone waits until the object name is deleted.
func (a *applier) waitGone(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	a.log.Info("waiting for a terminating object to go before restoring it", zap.String("name", name))
	return waitObject(ctx, ri, name, func(_ *unstructured.Unstructured, err error) (bool, error) {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// waitObject reads object name of ri after each change of it until done,
// given the read's result, holds or fails.
func waitObject(ctx context.Context, ri dynamic.ResourceInterface, name string, done func(*unstructured.Unstructured, error) (bool, error)) error {
	return kwait.Until(ctx, func(ctx context.Context) ([]watch.Interface, error) {
		w, err := ri.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: kwait.FromCache})
		if err != nil {
			return nil, err
		}
		return []watch.Interface{w}, nil
	}, func(ctx context.Context) (bool, kwait.Seen, error) {
		cur, err := ri.Get(ctx, name, metav1.GetOptions{})
		ok, err := done(cur, err)
		s := kwait.Seen{}
		if err == nil && cur != nil {
			s.Add(cur)
		}
		return ok, s, err
	})
}

func isTerminating(u *unstructured.Unstructured) bool {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return u.GetDeletionTimestamp() != nil || phase == string(corev1.NamespaceTerminating)
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func (a *applier) resource(it resources.Item, ns string) dynamic.ResourceInterface {
	nri := a.r.Dynamic.Resource(it.GVR())
	if it.Namespaced {
		return nri.Namespace(ns)
	}
	return nri
}

func claimRef(pv *unstructured.Unstructured) (ns, name string) {
	ns, _, _ = unstructured.NestedString(pv.Object, "spec", "claimRef", "namespace")
	name, _, _ = unstructured.NestedString(pv.Object, "spec", "claimRef", "name")
	return ns, name
}

func isCore(it resources.Item, resource string) bool {
	return it.Group == "" && it.Resource == resource
}
func isPod(it resources.Item) bool { return isCore(it, "pods") }

func orUnknown(s string) string {
	if s == "" {
		return "phase unknown"
	}
	return s
}

func joinMsg(msg, outcome string) string {
	if msg != "" {
		return msg
	}
	return outcome
}
