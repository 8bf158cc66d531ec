package verify

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/internal/kwait"
	"github.com/quiesce-dev/quiesce/internal/podexec"
)

// Defaults of Options.
const (
	DefaultRestoreTimeout = 30 * time.Minute
	DefaultReadyTimeout   = 5 * time.Minute
)

// PodExecer runs a command in a pod's container through the API server;
// podexec.Execer is the implementation. A non-zero exit is a Result, not
// an error.
type PodExecer interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string) (podexec.Result, error)
}

// Verifier verifies Backups.
type Verifier struct {
	Client client.WithWatch
	Exec   PodExecer
	// StartRestore starts the runner of a created Restore (a Job, or the
	// runner in this process, which returns once the Restore is final).
	StartRestore func(ctx context.Context, rs *api.Restore) error
	// Events records the verification's outcome on the Backup; may be nil.
	Events record.EventRecorder
	Log    *zap.Logger
	Now    func() time.Time
}

// Options shape one verification.
type Options struct {
	// Keep leaves the scratch namespaces (for debugging).
	Keep bool
	// RestoreTimeout bounds the Restore; ReadyTimeout the wait for the
	// restored pods to be Ready once it is final.
	RestoreTimeout, ReadyTimeout time.Duration
	// Progress is told each step, for the CLI; may be nil.
	Progress func(format string, args ...any)
}

// Run verifies the Backup key and returns it with its verification
// recorded. An error means no verification was recorded (the Backup is not
// verifiable) or its record could not be written; a failed verification is
// a Backup whose status.verification is Failed.
func (v *Verifier) Run(ctx context.Context, key types.NamespacedName, o Options) (*api.Backup, error) {
	o = o.withDefaults()
	var b api.Backup
	if err := v.Client.Get(ctx, key, &b); err != nil {
		return nil, fmt.Errorf("backup %s: %w", key, err)
	}
	if err := Eligible(&b); err != nil {
		return nil, err
	}
	start := v.now()
	// The Backup's status counts its pods; the report (from its
	// NodeBackups, which live as long as it does) lists them.
	var nbs api.NodeBackupList
	if err := v.Client.List(ctx, &nbs, client.InNamespace(b.Namespace), client.MatchingLabels{api.LabelBackup: b.Name}); err != nil {
		return nil, fmt.Errorf("backup %s: list its nodebackups: %w", key, err)
	}
	report, _ := api.BackupReport(nil, nbs.Items)
	p, err := Build(&b, report, ShortHash(string(b.UID), start.Format(time.RFC3339Nano)), o.RestoreTimeout)
	if err != nil {
		return nil, err
	}
	if err := v.scratchFree(ctx, key, p); err != nil {
		return nil, err
	}
	log := v.Log.With(zap.String("backup", key.String()), zap.String("restore", p.Restore.Name))
	started := metav1.NewTime(start)
	if err := v.record(ctx, &b, func(st *api.BackupStatus) {
		st.Verification = &api.BackupVerification{Phase: api.VerificationVerifying, StartTime: &started,
			Restore: p.Restore.Name, NamespaceMapping: p.Mapping, Pods: p.Pods}
	}); err != nil {
		return nil, err
	}
	log.Info("verification started", zap.Any("namespaceMapping", p.Mapping), zap.Int("pods", len(p.Pods)))
	pods, reason := v.verify(ctx, p, o, log)
	if !o.Keep {
		v.cleanup(ctx, p, log)
	}
	return v.finish(ctx, &b, pods, reason, log)
}

func (o Options) withDefaults() Options {
	if o.RestoreTimeout <= 0 {
		o.RestoreTimeout = DefaultRestoreTimeout
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	return o
}

// verify restores the pods and checks them; reason is set when the
// verification could not get as far as the pods.
func (v *Verifier) verify(ctx context.Context, p Plan, o Options, log *zap.Logger) (pods []api.PodVerification, reason string) {
	rs, err := v.restore(ctx, p, o)
	if err != nil {
		return failAll(p.Pods, err.Error()), err.Error()
	}
	o.Progress("restore %s: %s", rs.Name, rs.Status.Phase)
	notReady := v.waitReady(ctx, p.Pods, o.ReadyTimeout)
	for _, pv := range p.Pods {
		res := v.checkPod(ctx, rs, pv, notReady[key(pv)], log)
		o.Progress("pod %s/%s: %s", pv.Namespace, pv.Name, outcome(res))
		pods = append(pods, res)
	}
	return pods, ""
}

// restore creates the verification's Restore, starts it and waits until it
// is final (bounded by its timeout and a minute of slack for the runner to
// start).
func (v *Verifier) restore(ctx context.Context, p Plan, o Options) (*api.Restore, error) {
	rs := p.Restore.DeepCopy()
	if err := v.Client.Create(ctx, rs); err != nil {
		return nil, fmt.Errorf("create restore %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	o.Progress("restore %s/%s created: %s", rs.Namespace, rs.Name, mappingString(p.Mapping))
	if err := v.StartRestore(ctx, rs); err != nil {
		return nil, fmt.Errorf("start restore %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.RestoreTimeout+time.Minute)
	defer cancel()
	if err := v.waitRestore(wctx, rs); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return nil, fmt.Errorf("restore %s/%s not final after %s (is its runner Job running? quiesce restore describe %s)",
				rs.Namespace, rs.Name, Seconds(o.RestoreTimeout+time.Minute), rs.Name)
		}
		return nil, fmt.Errorf("wait for restore %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return rs, nil
}

func (v *Verifier) waitRestore(ctx context.Context, rs *api.Restore) error {
	k := client.ObjectKeyFromObject(rs)
	return kwait.Until(ctx, func(ctx context.Context) ([]watch.Interface, error) {
		w, err := v.Client.Watch(ctx, &api.RestoreList{}, client.InNamespace(k.Namespace),
			&client.ListOptions{Raw: &metav1.ListOptions{FieldSelector: "metadata.name=" + k.Name, ResourceVersion: kwait.FromCache}})
		if err != nil {
			return nil, err
		}
		return []watch.Interface{w}, nil
	}, func(ctx context.Context) (bool, kwait.Seen, error) {
		if err := v.Client.Get(ctx, k, rs); err != nil {
			return false, nil, err
		}
		seen := kwait.Seen{}
		seen.Add(rs)
		return rs.Status.Phase.Final(), seen, nil
	})
}

// waitReady waits until every restored pod is Ready or timeout passes, and
// returns why each pod that is not Ready is not.
func (v *Verifier) waitReady(ctx context.Context, pods []api.PodVerification, timeout time.Duration) map[string]string {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	namespaces := map[string]bool{}
	for _, p := range pods {
		namespaces[p.RestoredNamespace] = true
	}
	notReady := map[string]string{}
	read := func(ctx context.Context) (bool, kwait.Seen, error) {
		seen := kwait.Seen{}
		clear(notReady)
		for _, p := range pods {
			var pod corev1.Pod
			err := v.Client.Get(ctx, types.NamespacedName{Namespace: p.RestoredNamespace, Name: p.Name}, &pod)
			switch {
			case apierrors.IsNotFound(err):
				notReady[key(p)] = fmt.Sprintf("not restored: no pod %s/%s", p.RestoredNamespace, p.Name)
			case err != nil:
				return false, nil, err
			default:
				seen.Add(&pod)
				if ok, why := Readiness(&pod); !ok {
					notReady[key(p)] = fmt.Sprintf("restored pod %s/%s not Ready after %s: %s", p.RestoredNamespace, p.Name, Seconds(timeout), why)
				}
			}
		}
		return len(notReady) == 0, seen, nil
	}
	err := kwait.Until(wctx, func(ctx context.Context) ([]watch.Interface, error) {
		var ws []watch.Interface
		for ns := range namespaces {
			w, err := v.Client.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns),
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: kwait.FromCache}})
			if err != nil {
				for _, w := range ws {
					w.Stop()
				}
				return nil, err
			}
			ws = append(ws, w)
		}
		return ws, nil
	}, read)
	if err != nil && len(notReady) == 0 {
		// The wait ended before any read: every pod's state is unknown.
		for _, p := range pods {
			notReady[key(p)] = fmt.Sprintf("restored pod %s/%s: readiness unknown: %v", p.RestoredNamespace, p.Name, err)
		}
	}
	return notReady
}

// checkPod decides one pod's result: restored, Ready, then its check hook
// (or none).
func (v *Verifier) checkPod(ctx context.Context, rs *api.Restore, pv api.PodVerification, notReady string, log *zap.Logger) api.PodVerification {
	log = log.With(zap.String("namespace", pv.RestoredNamespace), zap.String("pod", pv.Name))
	if err := RestoredPod(rs, pv.RestoredNamespace, pv.Name); err != nil {
		return failed(pv, err.Error())
	}
	if notReady != "" {
		return failed(pv, notReady)
	}
	var pod corev1.Pod
	if err := v.Client.Get(ctx, types.NamespacedName{Namespace: pv.RestoredNamespace, Name: pv.Name}, &pod); err != nil {
		return failed(pv, fmt.Sprintf("read restored pod %s/%s: %v", pv.RestoredNamespace, pv.Name, err))
	}
	h, err := hook.VerifyHook(&pod)
	if err != nil {
		return failed(pv, "check hook: "+err.Error())
	}
	if h == nil {
		pv.Passed, pv.Message = true, NoCheck
		return pv
	}
	res := Checked(pv, h.Container, v.runCheck(ctx, &pod, h))
	log.Info("check ran", zap.String("container", h.Container), zap.Int("exitCode", res.ExitCode),
		zap.Duration("duration", res.Duration.Duration), zap.String("error", res.Error))
	log.Debug("check output", zap.String("output", res.Output))
	return res
}

func (v *Verifier) runCheck(ctx context.Context, pod *corev1.Pod, h *hook.Hook) CheckOutcome {
	hctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	t0 := time.Now()
	out, err := v.Exec.Exec(hctx, pod.Namespace, pod.Name, h.Container, h.Command)
	o := CheckOutcome{Result: out, Err: err, Timeout: h.Timeout, Duration: time.Since(t0)}
	o.TimedOut = err != nil && errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	return o
}

// scratchFree refuses scratch namespaces that exist already: the restore
// would mix with what they hold, and cleanup would rightly leave them.
func (v *Verifier) scratchFree(ctx context.Context, key types.NamespacedName, p Plan) error {
	for _, ns := range sortedValues(p.Mapping) {
		var n corev1.Namespace
		err := v.Client.Get(ctx, types.NamespacedName{Name: ns}, &n)
		switch {
		case err == nil:
			return fmt.Errorf("backup %s: scratch namespace %s already exists: a verification restores only into namespaces it creates; delete %s, or verify again (each run names its own)", key, ns, ns)
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("backup %s: look for scratch namespace %s: %w", key, ns, err)
		}
	}
	return nil
}

// cleanup deletes the scratch namespaces this verification's Restore
// created; a namespace that is not labelled with it existed before and is
// left alone. It runs even when ctx ended, on a context of its own.
func (v *Verifier) cleanup(ctx context.Context, p Plan, log *zap.Logger) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, ns := range sortedValues(p.Mapping) {
		var n corev1.Namespace
		if err := v.Client.Get(cctx, types.NamespacedName{Name: ns}, &n); err != nil {
			if !apierrors.IsNotFound(err) {
				log.Warn("scratch namespace left: read it", zap.String("namespace", ns), zap.Error(err))
			}
			continue
		}
		if n.Labels[api.LabelRestore] != p.Restore.Name {
			log.Warn("namespace left: not created by the verification's restore", zap.String("namespace", ns))
			continue
		}
		if err := v.Client.Delete(cctx, &n); err != nil && !apierrors.IsNotFound(err) {
			log.Warn("scratch namespace left: delete it", zap.String("namespace", ns), zap.Error(err))
			continue
		}
		log.Info("scratch namespace deleted", zap.String("namespace", ns))
	}
}

// finish records the outcome and its Event.
func (v *Verifier) finish(ctx context.Context, b *api.Backup, pods []api.PodVerification, reason string, log *zap.Logger) (*api.Backup, error) {
	phase, folded := Fold(pods)
	if reason == "" {
		reason = folded
	}
	done := metav1.NewTime(v.now())
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := v.record(cctx, b, func(st *api.BackupStatus) {
		if st.Verification == nil {
			st.Verification = &api.BackupVerification{}
		}
		st.Verification.Phase, st.Verification.CompletionTime = phase, &done
		st.Verification.Pods, st.Verification.Reason = pods, reason
	})
	if err != nil {
		return nil, err
	}
	if phase == api.VerificationFailed {
		log.Warn("verification failed", zap.String("reason", reason))
		v.event(b, corev1.EventTypeWarning, "VerificationFailed", "%s", reason)
	} else {
		log.Info("verification passed", zap.Int("pods", len(pods)))
		v.event(b, corev1.EventTypeNormal, "VerificationPassed", "%d pods restored and checked", len(pods))
	}
	return b, nil
}

// record applies mutate to the latest Backup's status and writes it,
// retrying on conflicts; b is refreshed with the result.
func (v *Verifier) record(ctx context.Context, b *api.Backup, mutate func(*api.BackupStatus)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur api.Backup
		if err := v.Client.Get(ctx, client.ObjectKeyFromObject(b), &cur); err != nil {
			return err
		}
		before := cur.Status.DeepCopy()
		mutate(&cur.Status)
		if !reflect.DeepEqual(before, &cur.Status) {
			if err := v.Client.Status().Update(ctx, &cur); err != nil {
				return err
			}
		}
		*b = cur
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup %s/%s: record status.verification: %w", b.Namespace, b.Name, err)
	}
	return nil
}

func (v *Verifier) event(b *api.Backup, typ, reason, format string, args ...any) {
	if v.Events != nil {
		v.Events.Eventf(b, typ, reason, format, args...)
	}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}
