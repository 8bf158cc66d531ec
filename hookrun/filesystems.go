package hookrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quiesce-dev/quiesce/hook"
)

// Filesystems freezes and thaws filesystems by a directory on them
// (agent/fsfreeze on a node). Freeze refuses one that is not safe to
// freeze; Thaw of one that is not frozen is not an error.
type Filesystems interface {
	Freeze(dir string) error
	Thaw(dir string) error
}

// Filesystem is a volume whose filesystem Freeze freezes after the pauses
// (backup.quiesce.dev/freeze: filesystem).
type Filesystem struct {
	Volume string
	Dir    string // the volume's directory on the node
}

// fsHook is the pseudo-hook a volume's freeze or thaw is reported as.
func fsHook(phase hook.Phase, volume string) hook.Hook {
	name := "fsfreeze " + volume
	if phase == hook.PostBackup {
		name = "fsthaw " + volume
	}
	return hook.Hook{Name: name, Phase: phase, OnError: hook.Fail, Source: hook.Source{Kind: "annotation", Ref: FreezeAnnotation}}
}

// freezeFilesystems freezes each volume's filesystem in turn; the first
// failure stops the rest (Thaw thaws every one tried).
func (f *Frozen) freezeFilesystems(ctx context.Context) Results {
	var out Results
	for _, fsys := range f.opts.Filesystems {
		r := newResult(fsHook(hook.PreBackup, fsys.Volume))
		r.Attempts = 1
		f.frozenFS = append(f.frozenFS, fsys)
		start := time.Now()
		err := errors.New("no filesystem freezer configured on this agent")
		if f.opts.FS != nil {
			err = f.opts.FS.Freeze(fsys.Dir)
		}
		r.Duration = time.Since(start)
		if err != nil {
			r.Outcome, r.Err = Failed, fmt.Errorf("pod %s: freeze the filesystem of volume %q: %w", f.pod, fsys.Volume, err)
		} else {
			r.Outcome, r.Reason = Held, "filesystem frozen (FIFREEZE)"
		}
		logResult(f.opts.logger(), f.pod, r)
		out = append(out, r)
		if err != nil {
			break
		}
	}
	return out
}

// thawFilesystems thaws, in reverse order, every filesystem frozen or
// tried, retrying like resume: a filesystem left frozen blocks its writers.
func (f *Frozen) thawFilesystems(ctx context.Context) Results {
	var out Results
	for i := len(f.frozenFS) - 1; i >= 0; i-- {
		fsys := f.frozenFS[i]
		r := newResult(fsHook(hook.PostBackup, fsys.Volume))
		start := time.Now()
		var err error
		for r.Attempts = 1; ; r.Attempts++ {
			if f.opts.FS == nil {
				err = errors.New("no filesystem freezer configured on this agent")
			} else if err = f.opts.FS.Thaw(fsys.Dir); err == nil {
				break
			}
			if r.Attempts == thawAttempts || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(f.opts.retryDelay()):
			}
		}
		r.Duration = time.Since(start)
		if err != nil {
			r.Outcome, r.Err = Failed, fmt.Errorf("pod %s: thaw the filesystem of volume %q after %d attempts: %w", f.pod, fsys.Volume, r.Attempts, err)
		} else {
			r.Outcome, r.Reason = Released, "filesystem thawed (FITHAW)"
		}
		logResult(f.opts.logger(), f.pod, r)
		out = append(out, r)
	}
	return out
}
