// Package restore runs Restores: it loads a backup's stored objects, creates
// them in the plan's order, hands the restored pods' volume data and hooks to
// the agents of their nodes through NodeRestores, and folds the agents'
// reports into the Restore's status until it is final.
package restore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/resources"
	"github.com/quiesce-dev/quiesce/restore/plan"
)

// DefaultTimeout bounds a Restore whose spec sets no timeout.
const DefaultTimeout = time.Hour

// Loader reads the stored document of a backup (resources.RepoStore reads
// it from the repository).
type Loader interface {
	Load(ctx context.Context, backup string) (*resources.Document, error)
}

// Runner takes Restores to a final phase.
type Runner struct {
	// Client reads and writes Restores and NodeRestores.
	Client client.WithWatch
	// Dynamic creates the restored objects, whatever their type.
	Dynamic   dynamic.Interface
	Resources Loader
	Log       *zap.Logger
	// Events records the Restore's start, end and failures; may be nil.
	Events record.EventRecorder
	// HelperImage and HelperPullPolicy run the wait init container.
	HelperImage      string
	HelperPullPolicy corev1.PullPolicy
	Now              func() time.Time
}

// Run takes the Restore to a final phase and returns it. A Restore already
// final is returned as it is. Run is safe to repeat on an InProgress Restore
// (a restarted Job): objects this Restore created are recognised by their
// label, and NodeRestores have one name per node.
func (r *Runner) Run(ctx context.Context, key types.NamespacedName) (*api.Restore, error) {
	var rs api.Restore
	if err := r.Client.Get(ctx, key, &rs); err != nil {
		return nil, fmt.Errorf("restore %s: %w", key, err)
	}
	if rs.Status.Phase.Final() {
		return &rs, nil
	}
	log := r.Log.With(zap.String("restore", key.String()), zap.String("backup", rs.Spec.BackupName))
	if err := r.start(ctx, &rs, log); err != nil {
		return nil, err
	}
	timeout := restoreTimeout(&rs)
	dctx, cancel := context.WithDeadlineCause(ctx, rs.Status.StartTimestamp.Add(timeout), errTimedOut)
	defer cancel()
	err := r.run(dctx, &rs, timeout, log)
	if err == nil {
		return &rs, nil
	}
	if ctx.Err() != nil {
		// The caller stopped us (not the deadline): a later run resumes.
		return nil, fmt.Errorf("restore %s: %w", key, err)
	}
	// Anything else ends the Restore, with the reason.
	cctx, ccancel := cleanupContext(ctx)
	defer ccancel()
	if ferr := r.finishFailed(cctx, &rs, err.Error(), log); ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	return &rs, nil
}

// run is Run from a started Restore; ctx has the Restore's deadline.
func (r *Runner) run(ctx context.Context, rs *api.Restore, timeout time.Duration, log *zap.Logger) error {
	if errs := validation.IsValidLabelValue(rs.Name); len(errs) > 0 {
		// Every restored object carries the name as a label value.
		return r.finishFailedCtx(ctx, rs, fmt.Sprintf("restore name %q is not a valid label value (%s): create the Restore again with a shorter name",
			rs.Name, strings.Join(errs, "; ")), log)
	}
	doc, err := r.Resources.Load(ctx, rs.Spec.BackupName)
	if err != nil {
		reason := fmt.Sprintf("backup %q: read its stored objects: %v (check that the Backup exists and completed, and that the runner's repository flags name the repository it was stored in)",
			rs.Spec.BackupName, err)
		if timedOut(ctx) {
			reason = fmt.Sprintf("timed out after %s before the objects of backup %q were read from the repository: %v", timeout, rs.Spec.BackupName, err)
		}
		return r.finishFailedCtx(ctx, rs, reason, log)
	}
	p, err := plan.Build(doc, &rs.Spec, plan.Options{
		RestoreName: rs.Name, RestoreUID: string(rs.UID), HelperImage: r.HelperImage,
		HelperPullPolicy: r.HelperPullPolicy, Timeout: timeout,
	})
	if err != nil {
		return r.finishFailedCtx(ctx, rs, fmt.Sprintf("backup %q: plan the restore: %v", rs.Spec.BackupName, err), log)
	}
	log.Info("restore planned", zap.Int("objects", len(p.Steps)), zap.Int("pods", len(p.Pods)), zap.Int("skipped", len(p.Skipped)))
	rep := &report{warnings: append([]string(nil), p.Warnings...), errors: append([]string(nil), p.Errors...)}
	rep.addSkipped(p.Skipped)
	a := &applier{r: r, rs: rs, rep: rep, log: log, taken: map[string]string{}, uids: map[string]types.UID{}, outcomes: map[string]api.RestoreItemOutcome{}}
	if err := a.apply(ctx, p.Steps); err != nil {
		return err
	}
	return r.restorePods(ctx, rs, p.Pods, a, timeout, log)
}

func restoreTimeout(rs *api.Restore) time.Duration {
	if rs.Spec.Timeout != nil && rs.Spec.Timeout.Duration > 0 {
		return rs.Spec.Timeout.Duration
	}
	return DefaultTimeout
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// start moves the Restore to InProgress with its start time, once.
func (r *Runner) start(ctx context.Context, rs *api.Restore, log *zap.Logger) error {
	if rs.Status.Phase == api.RestorePhaseInProgress && rs.Status.StartTimestamp != nil {
		log.Info("restore resumed")
		return nil
	}
	now := metav1.NewTime(r.now())
	err := r.updateStatus(ctx, rs, func(st *api.RestoreStatus) {
		st.Phase = api.RestorePhaseInProgress
		if st.StartTimestamp == nil {
			st.StartTimestamp = &now
		}
	})
	if err != nil {
		return err
	}
	log.Info("restore started")
	r.event(rs, corev1.EventTypeNormal, "RestoreStarted", "restore of backup %s started", rs.Spec.BackupName)
	return nil
}

// finishFailedCtx ends the Restore Failed; it writes with a context of its
// own when ctx has passed its deadline.
func (r *Runner) finishFailedCtx(ctx context.Context, rs *api.Restore, reason string, log *zap.Logger) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	return r.finishFailed(cctx, rs, reason, log)
}

// finishFailed ends the Restore Failed: nothing could be restored.
func (r *Runner) finishFailed(ctx context.Context, rs *api.Restore, reason string, log *zap.Logger) error {
	now := metav1.NewTime(r.now())
	err := r.updateStatus(ctx, rs, func(st *api.RestoreStatus) {
		st.Phase = api.RestorePhaseFailed
		st.FailureReason = reason
		st.Errors = append(st.Errors, reason)
		st.CompletionTimestamp = &now
	})
	if err != nil {
		return err
	}
	log.Error("restore failed", zap.String("reason", reason))
	r.event(rs, corev1.EventTypeWarning, "RestoreFailed", "%s", reason)
	return nil
}

// updateStatus applies mutate to the latest Restore and writes its status
// when it changed, retrying on conflicts; rs is refreshed with the result.
func (r *Runner) updateStatus(ctx context.Context, rs *api.Restore, mutate func(*api.RestoreStatus)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur api.Restore
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(rs), &cur); err != nil {
			return err
		}
		before := cur.Status.DeepCopy()
		mutate(&cur.Status)
		if !reflect.DeepEqual(before, &cur.Status) {
			if err := r.Client.Status().Update(ctx, &cur); err != nil {
				return err
			}
		}
		*rs = cur
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore %s/%s: update status: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}

func (r *Runner) event(rs *api.Restore, typ, reason, format string, args ...any) {
	if r.Events != nil {
		r.Events.Eventf(rs, typ, reason, format, args...)
	}
}

// cleanupContext is for the final status write after ctx's deadline: it
// keeps ctx's values, not its deadline.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// errTimedOut is the cause of the context of a Restore past its timeout,
// which tells the deadline from a caller that stops the runner.
var errTimedOut = errors.New("the restore's timeout passed")

func timedOut(ctx context.Context) bool { return errors.Is(context.Cause(ctx), errTimedOut) }
