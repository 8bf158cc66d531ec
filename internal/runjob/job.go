// Package runjob starts the short-lived Jobs that run a Backup's
// coordinator or a Restore's runner, from the pod template of the chart's
// never-scheduled runner CronJob, and starts them for Backups and Restores
// created with kubectl (Dispatcher).
package runjob

import (
	"context"
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// RunnerLabel marks the runner CronJob, whose template the Jobs copy.
const RunnerLabel = "quiesce.dev/runner"

// Spec is one Job to start: its name (before the "quiesce-" prefix), labels
// and command.
type Spec struct {
	Name    string
	Labels  map[string]string
	Command []string
}

// ForBackup runs the coordinator of Backup name.
func ForBackup(name string) Spec {
	return Spec{Name: name, Labels: map[string]string{api.LabelBackup: name}, Command: []string{"coordinator", "--backup=" + name}}
}

// ForRestore runs the runner of Restore name.
func ForRestore(name string) Spec {
	return Spec{Name: "restore-" + name, Labels: map[string]string{api.LabelRestore: name}, Command: []string{"restore", "run", name}}
}

// JobName is the Job's name: fixed per Backup or Restore, so a second start
// (the CLI and the dispatcher both) finds the first Job instead of a twin.
func (s Spec) JobName() string {
	n := "quiesce-" + s.Name
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// Start creates the Job in ns from the runner CronJob's template, with
// s.Command (and --namespace) before the runner's shared flags (repository,
// log level).
func Start(ctx context.Context, c client.Client, ns string, s Spec) (*batchv1.Job, error) {
	var cjs batchv1.CronJobList
	if err := c.List(ctx, &cjs, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "coordinator", RunnerLabel: "true"}); err != nil {
		return nil, fmt.Errorf("find the quiesce runner CronJob in namespace %s: %w", ns, err)
	}
	if len(cjs.Items) == 0 {
		return nil, fmt.Errorf("no quiesce runner CronJob (label %s=true) in namespace %s: install or upgrade the chart there, pass -n with its namespace, or use --run-here", RunnerLabel, ns)
	}
	tmpl := cjs.Items[0].Spec.JobTemplate.Spec.DeepCopy()
	for i := range tmpl.Template.Spec.Containers {
		ct := &tmpl.Template.Spec.Containers[i]
		if ct.Name == "coordinator" {
			ct.Args = append(append(slices.Clone(s.Command), "--namespace="+ns), ct.Args...)
		}
	}
	labels := map[string]string{"app.kubernetes.io/component": "coordinator"}
	maps.Copy(labels, s.Labels)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.JobName(), Labels: labels},
		Spec:       *tmpl,
	}
	if err := c.Create(ctx, job); err != nil {
		return nil, fmt.Errorf("create job %s/%s: %w", ns, job.Name, err)
	}
	return job, nil
}
