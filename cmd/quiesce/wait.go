package main

import (
	"context"
	"fmt"
	"io"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quiesce-dev/quiesce/internal/kwait"
)

// waitFinal watches obj (read again into obj after each change) and, when
// job is set, the Job running it. It shows current() after each change,
// and returns once final() holds, or with the Job's reason when the Job
// fails for good. list is obj's list type, for the watch.
func waitFinal(ctx context.Context, c client.WithWatch, obj client.Object, list client.ObjectList, job string, out io.Writer,
	current func(context.Context) progress, final func() bool) error {
	pp := newProgressPrinter(out)
	tctx, stopTicks := context.WithCancel(ctx)
	ticked := make(chan struct{})
	go func() { defer close(ticked); pp.tick(tctx) }()
	defer func() { stopTicks(); <-ticked }() // the terminal line ends before the caller prints
	key := client.ObjectKeyFromObject(obj)
	byName := func(name string) *client.ListOptions {
		return &client.ListOptions{Raw: &metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: kwait.FromCache}}
	}
	return kwait.Until(ctx, func(ctx context.Context) ([]watch.Interface, error) {
		ow, err := c.Watch(ctx, list, client.InNamespace(key.Namespace), byName(key.Name))
		if err != nil {
			return nil, err
		}
		ws := []watch.Interface{ow}
		if job != "" {
			jw, err := c.Watch(ctx, &batchv1.JobList{}, client.InNamespace(key.Namespace), byName(job))
			if err != nil {
				ow.Stop()
				return nil, err
			}
			ws = append(ws, jw)
		}
		return ws, nil
	}, func(ctx context.Context) (bool, kwait.Seen, error) {
		if err := c.Get(ctx, key, obj); err != nil {
			return false, nil, err
		}
		seen := kwait.Seen{}
		seen.Add(obj)
		pp.show(current(ctx))
		if final() {
			return true, seen, nil
		}
		return false, seen, jobFailed(ctx, c, key.Namespace, job, seen)
	})
}

// jobFailed returns the reason of a runner Job that failed for good.
// The Job's version goes into seen.
func jobFailed(ctx context.Context, c client.Client, ns, job string, seen kwait.Seen) error {
	if job == "" {
		return nil
	}
	var j batchv1.Job
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: job}, &j); err != nil {
		return nil //nolint:nilerr // not readable yet: the object's watch still ends the wait
	}
	seen.Add(&j)
	for _, cond := range j.Status.Conditions {
		if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
			return fmt.Errorf("job %s/%s failed (%s: %s); its log: kubectl -n %s logs job/%s", ns, job, cond.Reason, cond.Message, ns, job)
		}
	}
	return nil
}
