package plan

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/resources"
)

// transform rewrites it.Object (a deep copy) for the target cluster.
func (b *builder) transform(it *resources.Item) error {
	obj := it.Object.Object
	cleanMetadata(it.Object, b.opt.RestoreName, it.Namespaced, b.m)
	delete(obj, "status")
	switch it.GroupResource() {
	case "namespaces":
		it.Object.SetName(b.m.target(it.Object.GetName()))
	case "pods":
		return transformPod(obj)
	case "services":
		return transformService(obj)
	case "persistentvolumeclaims":
		removeAnnotations(it.Object, "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
			"volume.kubernetes.io/selected-node")
	case "persistentvolumes":
		removeAnnotations(it.Object, "pv.kubernetes.io/bound-by-controller")
		return transformPV(obj, b.m)
	case "jobs.batch":
		return transformJob(obj)
	case "rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io":
		return mapSubjects(obj, b.m)
	case "serviceaccounts":
		dropTokenSecretRefs(it.Object)
	}
	return nil
}

// cleanMetadata keeps only what a client sets (name, generateName,
// namespace, labels, annotations): owner references go so that restored
// controllers adopt their objects; finalizers, uid, resourceVersion and
// every other server-set field go too. It maps the namespace and sets the
// restore label.
func cleanMetadata(u *unstructured.Unstructured, restore string, namespaced bool, m mapping) {
	old, _ := u.Object["metadata"].(map[string]any)
	md := map[string]any{}
	for _, k := range []string{"name", "generateName", "namespace", "labels", "annotations"} {
		if v, ok := old[k]; ok {
			md[k] = v
		}
	}
	u.Object["metadata"] = md
	if ns := u.GetNamespace(); namespaced && ns != "" {
		u.SetNamespace(m.target(ns))
	} else if !namespaced {
		delete(md, "namespace")
	}
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[api.LabelRestore] = restore
	u.SetLabels(l)
}

func removeAnnotations(u *unstructured.Unstructured, keys ...string) {
	a := u.GetAnnotations()
	if a == nil {
		return
	}
	for _, k := range keys {
		delete(a, k)
	}
	if len(a) == 0 {
		a = nil
	}
	u.SetAnnotations(a)
}

// serviceAccountVolumePrefix names the projected token volume admission
// adds to every pod; it adds it again on create.
const serviceAccountVolumePrefix = "kube-api-access-"

// transformPod drops what binds the pod to its old node and what admission
// adds again (or refuses on create): nodeName, priority (set from
// priorityClassName), ephemeral containers, the service-account token
// volume and its mounts, and the wait container and signal volume of an
// earlier quiesce restore.
func transformPod(obj map[string]any) error {
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return fmt.Errorf("spec: missing or not an object")
	}
	delete(spec, "nodeName")
	delete(spec, "priority")
	delete(spec, "ephemeralContainers")
	drop := map[string]bool{api.RestoreSignalVolume: true}
	if vols, ok := spec["volumes"].([]any); ok {
		var keep []any
		for _, v := range vols {
			vm, _ := v.(map[string]any)
			name, _ := vm["name"].(string)
			if _, projected := vm["projected"]; projected && strings.HasPrefix(name, serviceAccountVolumePrefix) {
				drop[name] = true
				continue
			}
			if drop[name] {
				continue
			}
			keep = append(keep, v)
		}
		setOrDelete(spec, "volumes", keep)
	}
	for _, field := range []string{"initContainers", "containers"} {
		cs, ok := spec[field].([]any)
		if !ok {
			continue
		}
		var keepC []any
		for _, c := range cs {
			cm, _ := c.(map[string]any)
			if field == "initContainers" && cm["name"] == api.RestoreWaitContainer {
				continue
			}
			if mounts, ok := cm["volumeMounts"].([]any); ok {
				var keep []any
				for _, vm := range mounts {
					mm, _ := vm.(map[string]any)
					if n, _ := mm["name"].(string); !drop[n] {
						keep = append(keep, vm)
					}
				}
				setOrDelete(cm, "volumeMounts", keep)
			}
			keepC = append(keepC, c)
		}
		setOrDelete(spec, field, keepC)
	}
	return nil
}

func setOrDelete(m map[string]any, k string, list []any) {
	if len(list) == 0 {
		delete(m, k)
		return
	}
	m[k] = list
}

// transformService drops the allocated addresses and ports: another
// cluster (or the same one, after the old Service went) allocates them.
// A headless Service keeps clusterIP "None".
func transformService(obj map[string]any) error {
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return nil
	}
	if ip, _ := spec["clusterIP"].(string); ip != "None" {
		delete(spec, "clusterIP")
		delete(spec, "clusterIPs")
	}
	delete(spec, "healthCheckNodePort")
	if ports, ok := spec["ports"].([]any); ok {
		for _, p := range ports {
			if pm, ok := p.(map[string]any); ok {
				delete(pm, "nodePort")
			}
		}
	}
	return nil
}

// transformPV reduces claimRef to the claim's (mapped) namespace and name,
// so the restored PVC, with a new uid, can bind it.
func transformPV(obj map[string]any, m mapping) error {
	ref, ok, _ := unstructured.NestedMap(obj, "spec", "claimRef")
	if !ok {
		return nil
	}
	ns, _ := ref["namespace"].(string)
	name, _ := ref["name"].(string)
	out := map[string]any{"name": name}
	if ns != "" {
		out["namespace"] = m.target(ns)
	}
	return unstructured.SetNestedMap(obj, out, "spec", "claimRef")
}

// transformJob drops the generated selector and the template's
// controller-uid labels: the API server generates them for the new Job and
// refuses a create that carries the old ones.
func transformJob(obj map[string]any) error {
	if manual, _, _ := unstructured.NestedBool(obj, "spec", "manualSelector"); manual {
		return nil
	}
	unstructured.RemoveNestedField(obj, "spec", "selector")
	for _, l := range []string{"controller-uid", "batch.kubernetes.io/controller-uid"} {
		unstructured.RemoveNestedField(obj, "spec", "template", "metadata", "labels", l)
	}
	return nil
}

// mapSubjects maps the namespace of ServiceAccount subjects.
func mapSubjects(obj map[string]any, m mapping) error {
	subs, ok := obj["subjects"].([]any)
	if !ok {
		return nil
	}
	for _, s := range subs {
		sm, ok := s.(map[string]any)
		if !ok || sm["kind"] != "ServiceAccount" {
			continue
		}
		if ns, _ := sm["namespace"].(string); ns != "" {
			sm["namespace"] = m.target(ns)
		}
	}
	return nil
}

// dropTokenSecretRefs removes a ServiceAccount's references to its legacy
// token Secrets, which are not restored.
func dropTokenSecretRefs(u *unstructured.Unstructured) {
	secrets, ok := u.Object["secrets"].([]any)
	if !ok {
		return
	}
	prefix := u.GetName() + "-token-"
	var keep []any
	for _, s := range secrets {
		sm, _ := s.(map[string]any)
		if n, _ := sm["name"].(string); !strings.HasPrefix(n, prefix) {
			keep = append(keep, s)
		}
	}
	setOrDelete(u.Object, "secrets", keep)
}
