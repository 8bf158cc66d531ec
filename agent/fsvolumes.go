package agent

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/fsbackup/staging"
)

// FSVolumes captures and uploads volumes with fsbackup: a staged capture is
// a local copy under StagingRoot (one directory per volume identity, kept
// for the next incremental capture); a direct one snapshots the live
// volume into the repository.
type FSVolumes struct {
	Engine      *fsbackup.Engine
	StagingRoot string
	Staging     staging.Options
	// Pacer, if set, holds uploads' reads while a pod of the node is frozen.
	Pacer *UploadPacer
	Log   *zap.Logger
}

// stagingDir is keyed by the volume's identity and the pod: the next
// backup of the same pod copies incrementally over the same tree, an agent
// restarted mid-upload finds the copy again, and two replicas sharing an
// identity (a Deployment's) never capture into one tree while the other's
// upload reads it.
func (f *FSVolumes) stagingDir(source, podUID string) string {
	return filepath.Join(f.StagingRoot, url.PathEscape(source)+"@"+podUID)
}

func (f *FSVolumes) options(b BackupRef, pod *api.PodAssignment, v api.VolumeAssignment) (fsbackup.BackupOptions, error) {
	src, err := fsbackup.ParseSource(v.Source)
	if err != nil {
		return fsbackup.BackupOptions{}, fmt.Errorf("pod %s/%s: volume %q: %w", pod.Namespace, pod.Name, v.Name, err)
	}
	tags := map[string]string{"backup": b.Name, "namespace": pod.Namespace, "pod": pod.Name, "podUID": pod.UID, "volume": v.Name}
	if v.PVC != "" {
		tags["pvc"] = v.PVC
	}
	return fsbackup.BackupOptions{Source: src, Tags: tags, ExpiresAt: b.Expires,
		Description: fmt.Sprintf("quiesce backup %s: pod %s/%s volume %s", b.Name, pod.Namespace, pod.Name, v.Name)}, nil
}

// Capture implements Volumes. Every volume is attempted; the error joins
// the failures, and each failed volume carries its own.
func (f *FSVolumes) Capture(ctx context.Context, b BackupRef, pod *api.PodAssignment, staged bool) ([]api.VolumeResult, error) {
	out := make([]api.VolumeResult, 0, len(pod.Volumes))
	var errs []error
	for _, v := range pod.Volumes {
		r := api.VolumeResult{Name: v.Name, PVC: v.PVC}
		err := func() error {
			if v.HostPath == "" {
				return fmt.Errorf("pod %s/%s: volume %q: host path not resolved", pod.Namespace, pod.Name, v.Name)
			}
			if staged {
				dir := f.stagingDir(v.Source, pod.UID)
				c, err := fsbackup.Capture(ctx, v.HostPath, dir, f.Staging)
				r.Files, r.Bytes, r.Capture = c.Files, c.Bytes, metav1.Duration{Duration: c.Duration}
				if err != nil {
					return f.dropPartial(dir, err)
				}
				return nil
			}
			opt, err := f.options(b, pod, v)
			if err != nil {
				return err
			}
			res, err := f.Engine.Backup(ctx, v.HostPath, opt)
			fill(&r, res)
			r.Capture = r.Upload
			return err
		}()
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// dropPartial removes a staged copy whose capture failed: half a copy
// only takes room other pods' captures need (the next capture of this pod
// is a full one). A full staging area is said with its fix.
func (f *FSVolumes) dropPartial(dir string, err error) error {
	if rmErr := os.RemoveAll(dir); rmErr != nil {
		f.Log.Warn("partial staged copy not removed", zap.String("dir", dir), zap.Error(rmErr))
	}
	if errors.Is(err, staging.ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("staging area %s is full (%w): the partial copy was removed; give the agent's state directory (chart value agent.stateDir) more room, or back this pod up with spec.captureMode Direct", f.StagingRoot, err)
	}
	return err
}

// Upload implements Volumes.
func (f *FSVolumes) Upload(ctx context.Context, b BackupRef, pod *api.PodAssignment, captured []api.VolumeResult) ([]api.VolumeResult, error) {
	prev := map[string]api.VolumeResult{}
	for _, c := range captured {
		prev[c.Name] = c
	}
	out := make([]api.VolumeResult, 0, len(pod.Volumes))
	var errs []error
	for _, v := range pod.Volumes {
		r := prev[v.Name]
		r.Name, r.PVC = v.Name, v.PVC
		opt, err := f.options(b, pod, v)
		if err == nil {
			if f.Pacer != nil {
				opt.Pause = f.Pacer.Pause
			}
			var res fsbackup.Result
			res, err = f.Engine.Upload(ctx, f.stagingDir(v.Source, pod.UID), opt)
			fill(&r, res)
		}
		if err != nil {
			err = storageFault(err)
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// storageFault says what a full or read-only repository means for the
// upload that hit it: the staged copy stays, so the next backup of the pod
// uploads what this one could not.
func storageFault(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("the repository's storage is full (%w): free or grow it; the staged copy is kept for the next backup", err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("the repository's storage is read-only (%w): make it writable; the staged copy is kept for the next backup", err)
	}
	return err
}

func fill(r *api.VolumeResult, res fsbackup.Result) {
	r.SnapshotID = res.SnapshotID
	if res.Files > 0 {
		r.Files = res.Files
	}
	if res.BytesRead > 0 {
		r.Bytes = res.BytesRead
	}
	r.UploadedBytes = res.BytesUploaded
	r.Upload = metav1.Duration{Duration: res.Duration}
}
