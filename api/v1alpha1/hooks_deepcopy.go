package v1alpha1

// Hand-written deep copies for the hook spec types (marked
// with generate=false, so controller-gen leaves them alone).

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (in *BackupHooks) DeepCopyInto(out *BackupHooks) {
	*out = *in
	if in.Resources != nil {
		out.Resources = make([]BackupResourceHookSpec, len(in.Resources))
		for i := range in.Resources {
			in.Resources[i].DeepCopyInto(&out.Resources[i])
		}
	}
	if in.Backup != nil {
		out.Backup = &BackupLevelHooks{Pre: copyBackupLevelHooks(in.Backup.Pre), Post: copyBackupLevelHooks(in.Backup.Post)}
	}
}

func copyBackupLevelHooks(in []BackupLevelHook) []BackupLevelHook {
	if in == nil {
		return nil
	}
	out := make([]BackupLevelHook, len(in))
	for i, h := range in {
		out[i] = h
		out[i].LabelSelector = copySelector(h.LabelSelector)
		out[i].Command = copyStrings(h.Command)
		if h.Job != nil {
			j := &BackupLevelJob{}
			h.Job.Template.DeepCopyInto(&j.Template)
			if h.Job.BackoffLimit != nil {
				n := *h.Job.BackoffLimit
				j.BackoffLimit = &n
			}
			out[i].Job = j
		}
	}
	return out
}

func (in *BackupHooks) DeepCopy() *BackupHooks {
	if in == nil {
		return nil
	}
	out := new(BackupHooks)
	in.DeepCopyInto(out)
	return out
}

func (in *BackupResourceHookSpec) DeepCopyInto(out *BackupResourceHookSpec) {
	*out = *in
	out.IncludedNamespaces = copyStrings(in.IncludedNamespaces)
	out.ExcludedNamespaces = copyStrings(in.ExcludedNamespaces)
	out.IncludedResources = copyStrings(in.IncludedResources)
	out.ExcludedResources = copyStrings(in.ExcludedResources)
	out.LabelSelector = copySelector(in.LabelSelector)
	out.PreHooks = copyBackupHooks(in.PreHooks)
	out.PostHooks = copyBackupHooks(in.PostHooks)
}

func copyBackupHooks(in []BackupResourceHook) []BackupResourceHook {
	if in == nil {
		return nil
	}
	out := make([]BackupResourceHook, len(in))
	for i, h := range in {
		if h.Exec != nil {
			e := *h.Exec
			e.Command = copyStrings(h.Exec.Command)
			out[i].Exec = &e
		}
	}
	return out
}

func (in *RestoreHooks) DeepCopyInto(out *RestoreHooks) {
	*out = *in
	if in.Resources != nil {
		out.Resources = make([]RestoreResourceHookSpec, len(in.Resources))
		for i := range in.Resources {
			in.Resources[i].DeepCopyInto(&out.Resources[i])
		}
	}
}

func (in *RestoreHooks) DeepCopy() *RestoreHooks {
	if in == nil {
		return nil
	}
	out := new(RestoreHooks)
	in.DeepCopyInto(out)
	return out
}

func (in *RestoreResourceHookSpec) DeepCopyInto(out *RestoreResourceHookSpec) {
	*out = *in
	out.IncludedNamespaces = copyStrings(in.IncludedNamespaces)
	out.ExcludedNamespaces = copyStrings(in.ExcludedNamespaces)
	out.IncludedResources = copyStrings(in.IncludedResources)
	out.ExcludedResources = copyStrings(in.ExcludedResources)
	out.LabelSelector = copySelector(in.LabelSelector)
	if in.PostHooks != nil {
		out.PostHooks = make([]RestoreResourceHook, len(in.PostHooks))
		for i, h := range in.PostHooks {
			if h.Exec != nil {
				e := *h.Exec
				e.Command = copyStrings(h.Exec.Command)
				if h.Exec.WaitForReady != nil {
					b := *h.Exec.WaitForReady
					e.WaitForReady = &b
				}
				out.PostHooks[i].Exec = &e
			}
			if h.Init != nil {
				n := *h.Init
				if h.Init.InitContainers != nil {
					n.InitContainers = make([]corev1.Container, len(h.Init.InitContainers))
					for j := range h.Init.InitContainers {
						h.Init.InitContainers[j].DeepCopyInto(&n.InitContainers[j])
					}
				}
				out.PostHooks[i].Init = &n
			}
		}
	}
}

func copyStrings(in []string) []string {
	if in == nil {
		return nil
	}
	return append([]string(nil), in...)
}

func copySelector(in *metav1.LabelSelector) *metav1.LabelSelector {
	if in == nil {
		return nil
	}
	return in.DeepCopy()
}
