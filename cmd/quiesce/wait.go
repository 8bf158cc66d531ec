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
)

// waitFinal watches obj (read again into obj after each change) and, when
// job is set, the Job running it. It prints line() whenever it changes,
// and returns once final() holds, or with the Job's reason when the Job
// fails for good. list is obj's list type, for the watch.
func waitFinal(ctx context.Context, c client.WithWatch, obj client.Object, list client.ObjectList, job string, out io.Writer,
	line func() string, final func() bool) error {
	key := client.ObjectKeyFromObject(obj)
	// Resource version "0": served from the API server's cache at once
	// (without one, the server waits for its cache to match etcd, and can
	// time out); the Get after it is the fresh read.
	byName := func(name string) *client.ListOptions {
		return &client.ListOptions{Raw: &metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: "0"}}
	}
	last := ""
	for {
		// Watch first, then read: no change between the two is missed.
		ow, err := c.Watch(ctx, list, client.InNamespace(key.Namespace), byName(key.Name))
		if err != nil {
			return err
		}
		ws := []watch.Interface{ow}
		if job != "" {
			jw, err := c.Watch(ctx, &batchv1.JobList{}, client.InNamespace(key.Namespace), byName(job))
			if err != nil {
				ow.Stop()
				return err
			}
			ws = append(ws, jw)
		}
		stop := func() {
			for _, w := range ws {
				w.Stop()
			}
		}
		if err := c.Get(ctx, key, obj); err != nil {
			stop()
			return err
		}
		if l := line(); l != last {
			fmt.Fprintln(out, l)
			last = l
		}
		if final() {
			stop()
			return nil
		}
		if err := jobFailed(ctx, c, key.Namespace, job); err != nil {
			stop()
			return err
		}
		var jobEvents <-chan watch.Event
		if len(ws) > 1 {
			jobEvents = ws[1].ResultChan()
		}
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-ow.ResultChan(): // any change, or the watch closing: read again
		case <-jobEvents:
		}
		stop()
	}
}

// jobFailed returns the reason of a runner Job that failed for good.
func jobFailed(ctx context.Context, c client.Client, ns, job string) error {
	if job == "" {
		return nil
	}
	var j batchv1.Job
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: job}, &j); err != nil {
		return nil //nolint:nilerr // not readable yet: the object's watch still ends the wait
	}
	for _, cond := range j.Status.Conditions {
		if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
			return fmt.Errorf("job %s/%s failed (%s: %s); its log: kubectl -n %s logs job/%s", ns, job, cond.Reason, cond.Message, ns, job)
		}
	}
	return nil
}
