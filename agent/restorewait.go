package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/kwait"
)

// errPodGone: the pod was deleted or replaced by one with another UID.
var errPodGone = errors.New("pod gone")

// waitPod waits until cond holds for the pod and returns it. It fails when
// the pod is deleted, replaced (another UID) or has ended, and with ctx's
// error when ctx ends first; it then also returns the last pod it saw.
// Failures to reach the API server are retried.
func waitPod(ctx context.Context, c client.WithWatch, log *zap.Logger, ns, name, uid string, cond func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var last *corev1.Pod
	b := &kwait.Backoff{Min: 250 * time.Millisecond, Max: 10 * time.Second}
	open := func(ctx context.Context) ([]watch.Interface, error) {
		w, err := c.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": name},
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: kwait.FromCache}})
		if err != nil {
			return nil, err
		}
		return []watch.Interface{w}, nil
	}
	read := func(ctx context.Context) (bool, kwait.Seen, error) {
		var p corev1.Pod
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil, kwait.Permanent(fmt.Errorf("pod %s/%s: %w (deleted)", ns, name, errPodGone))
			}
			return false, nil, err
		}
		b.Reset()
		if string(p.UID) != uid {
			return false, nil, kwait.Permanent(fmt.Errorf("pod %s/%s has uid %s, the restore created %s: %w (it was recreated)", ns, name, p.UID, uid, errPodGone))
		}
		last = &p
		if cond(&p) {
			return true, nil, nil
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return false, nil, kwait.Permanent(fmt.Errorf("pod %s/%s is %s", ns, name, p.Status.Phase))
		}
		seen := kwait.Seen{}
		seen.Add(&p)
		return false, seen, nil
	}
	err := kwait.Retry(ctx, b, func(ctx context.Context) error { return kwait.Until(ctx, open, read) },
		func(err error, in time.Duration) {
			log.Warn("get/watch pod failed; retrying", zap.String("pod", ns+"/"+name), zap.Error(err), zap.Duration("in", in))
		})
	return last, err
}

func initStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.InitContainerStatuses {
		if p.Status.InitContainerStatuses[i].Name == name {
			return &p.Status.InitContainerStatuses[i]
		}
	}
	return nil
}

// waitContainerStarted: the wait init container runs (so the kubelet has set
// up every volume), or has already exited 0 (an earlier agent released it).
func waitContainerStarted(p *corev1.Pod) bool {
	s := initStatus(p, api.RestoreWaitContainer)
	return s != nil && (s.State.Running != nil || s.State.Terminated != nil && s.State.Terminated.ExitCode == 0)
}

// containerUp: the app container runs, and is ready if ready is asked.
func containerUp(name string, ready bool) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == name {
				return s.State.Running != nil && (!ready || s.Ready)
			}
		}
		return false
	}
}

// writeSignal writes sig as the signal file in dir, atomically: the wait
// container reads a file that exists as complete.
func writeSignal(dir string, sig api.RestoreSignal) error {
	b, err := json.Marshal(sig)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+api.RestoreSignalFile+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644) // the wait container runs as another user
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, api.RestoreSignalFile))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Join(dir, api.RestoreSignalFile), err)
	}
	return nil
}
