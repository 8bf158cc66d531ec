// Package v1alpha1 holds quiesce's API types (group quiesce.dev): the Backup
// a user or the coordinator's CronJob creates, the Restore a user creates,
// and the NodeBackup and NodeRestore written for each node's agent.
//
// +kubebuilder:object:generate=true
// +groupName=quiesce.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of these types.
var GroupVersion = schema.GroupVersion{Group: "quiesce.dev", Version: "v1alpha1"}

// AddToScheme registers the types with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Backup{}, &BackupList{},
		&NodeBackup{}, &NodeBackupList{},
		&Restore{}, &RestoreList{},
		&NodeRestore{}, &NodeRestoreList{},
	)
	metav1AddToGroupVersion(s)
	return nil
}
