package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/podexec"
	"github.com/quiesce-dev/quiesce/internal/render"
	"github.com/quiesce-dev/quiesce/internal/runjob"
	"github.com/quiesce-dev/quiesce/verify"
)

func newBackupVerifyCommand(kf *kubeFlags) *cobra.Command {
	var (
		keep, here                  bool
		restoreTimeout, readyTimout time.Duration
		logLevel                    string
		rf                          = &repoFlags{}
	)
	cmd := &cobra.Command{
		Use:   "verify NAME",
		Short: "Verify a Backup by restoring its pods into scratch namespaces and running their check hooks",
		Long: `Creates a Restore of the Backup's backed-up pods into one scratch namespace per
source namespace (<namespace>-verify-<hash>), started like ` + "`restore create`" + ` (by a Job,
or in this process with --run-here and the repository flags), waits until it is final and
the restored pods are Ready, then runs each pod's check hook through the API server:

  verify.hook.quiesce.dev/command    JSON array (or one argument), as Velero's command annotations
  verify.hook.quiesce.dev/container  default: the pod's first container
  verify.hook.quiesce.dev/timeout    default 60s

A pod without a check hook passes when its restore completed and it became Ready. The
outcome goes to the Backup's status.verification (quiesce backup describe) with an
Event when it failed; the scratch namespaces are deleted unless --keep. Exits non-zero
when the verification Failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := kf.client()
			if err != nil {
				return err
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			cfg, err := kf.restConfig()
			if err != nil {
				return err
			}
			ex, err := podexec.New(cfg)
			if err != nil {
				return err
			}
			events, err := kf.syncEventRecorder("quiesce-verify")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			v := &verify.Verifier{Client: c, Exec: ex, Events: events, Log: log,
				StartRestore: restoreStarter(kf, rf, c, logLevel, here, out)}
			b, err := v.Run(cmd.Context(), types.NamespacedName{Namespace: kf.namespace, Name: args[0]}, verify.Options{
				Keep: keep, RestoreTimeout: restoreTimeout, ReadyTimeout: readyTimout,
				Progress: func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) },
			})
			if err != nil {
				return err
			}
			return printVerification(out, b, keep)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&keep, "keep", false, "keep the scratch namespaces (to look into a failure)")
	f.DurationVar(&restoreTimeout, "restore-timeout", verify.DefaultRestoreTimeout, "bound of the restore")
	f.DurationVar(&readyTimout, "ready-timeout", verify.DefaultReadyTimeout, "how long the restored pods may take to be Ready once the restore is final")
	f.BoolVar(&here, "run-here", false, "run the restore in this process instead of a Job (needs the repository flags)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	rf.add(f)
	return cmd
}

// restoreStarter starts a verification's Restore as `restore create` does:
// a runner Job, or the runner in this process.
func restoreStarter(kf *kubeFlags, rf *repoFlags, c client.WithWatch, logLevel string, here bool, out io.Writer) func(context.Context, *api.Restore) error {
	return func(ctx context.Context, rs *api.Restore) error {
		if here {
			_, err := runRestore(ctx, kf, rf, c, logLevel, client.ObjectKeyFromObject(rs))
			return err
		}
		job, err := runjob.Start(ctx, c, rs.Namespace, runjob.ForRestore(rs.Name))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "restore job %s/%s started\n", job.Namespace, job.Name)
		return nil
	}
}

func printVerification(out io.Writer, b *api.Backup, keep bool) error {
	v := b.Status.Verification
	fmt.Fprintf(out, "\nbackup %s/%s verification:\n", b.Namespace, b.Name)
	render.Verification(out, v, render.Options{Indent: "  ", Detail: render.Output})
	if keep {
		fmt.Fprintf(out, "scratch namespaces kept (--keep): delete them with kubectl delete namespace %s\n", namespaceList(v.NamespaceMapping))
	}
	if v.Phase == api.VerificationFailed {
		return fmt.Errorf("backup %s/%s verification failed: %s", b.Namespace, b.Name, v.Reason)
	}
	return nil
}

func namespaceList(m map[string]string) string {
	return strings.Join(slices.Sorted(maps.Values(m)), " ")
}
