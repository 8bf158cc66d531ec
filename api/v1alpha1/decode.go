package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// VeleroAPIVersion is Velero's API version; its Backup and Schedule
// manifests decode into Backup unchanged, fields quiesce does not act on
// (storageLocation, snapshotVolumes, ...) being ignored.
const VeleroAPIVersion = "velero.io/v1"

// manifestKind returns the kind of a manifest of our API version or
// Velero's, the two a decoder accepts.
func manifestKind(data []byte) (string, error) {
	var head metav1.TypeMeta
	if err := yaml.Unmarshal(data, &head); err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	if head.APIVersion != VeleroAPIVersion && head.APIVersion != GroupVersion.String() {
		return "", fmt.Errorf("manifest apiVersion %q: want %s or %s", head.APIVersion, GroupVersion, VeleroAPIVersion)
	}
	return head.Kind, nil
}

// DecodeBackup reads one Backup manifest, ours or Velero's, or a Schedule
// (Velero's), whose spec.template is the Backup spec. The result has our
// apiVersion and kind.
func DecodeBackup(data []byte) (*Backup, error) {
	kind, err := manifestKind(data)
	if err != nil {
		return nil, err
	}
	var b Backup
	switch kind {
	case "Backup":
		if err := yaml.Unmarshal(data, &b); err != nil {
			return nil, fmt.Errorf("backup manifest: %w", err)
		}
	case "Schedule":
		var s struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				Template BackupSpec `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("schedule manifest: %w", err)
		}
		b.ObjectMeta = metav1.ObjectMeta{Name: s.Metadata.Name, Namespace: s.Metadata.Namespace, Labels: s.Metadata.Labels}
		b.Spec = s.Spec.Template
	default:
		return nil, fmt.Errorf("manifest kind %q: want Backup or Schedule", kind)
	}
	b.APIVersion, b.Kind = GroupVersion.String(), "Backup"
	b.Status = BackupStatus{}
	b.ResourceVersion, b.UID = "", ""
	return &b, nil
}

// DecodeRestore reads one Restore manifest, ours or Velero's. The result has
// our apiVersion and kind; fields quiesce does not act on are ignored.
func DecodeRestore(data []byte) (*Restore, error) {
	kind, err := manifestKind(data)
	if err != nil {
		return nil, err
	}
	if kind != "Restore" {
		return nil, fmt.Errorf("manifest kind %q: want Restore", kind)
	}
	var r Restore
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("restore manifest: %w", err)
	}
	if r.Spec.BackupName == "" {
		return nil, fmt.Errorf("restore manifest %s: spec.backupName is empty: name the Backup to restore", r.Name)
	}
	r.APIVersion, r.Kind = GroupVersion.String(), "Restore"
	r.Status = RestoreStatus{}
	r.ResourceVersion, r.UID = "", ""
	return &r, nil
}
