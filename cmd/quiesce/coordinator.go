package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/coordinator"
	"github.com/quiesce-dev/quiesce/internal/podexec"
	"github.com/quiesce-dev/quiesce/resources"
)

func newCoordinatorCommand() *cobra.Command {
	var (
		kf            kubeFlags
		rf            repoFlags
		backupName    string
		schedule      string
		templateFile  string
		agentSelector string
		timeout       time.Duration
		logLevel      string
	)
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run one Backup to completion (what the chart's CronJob runs)",
		Long: `Runs one Backup: selects its pods, assigns them to the agents of their nodes
through NodeBackups, follows the agents' reports and finishes the Backup.

With --backup it runs an existing Backup (quiesce backup create makes one).
When the pods are final it stores the Backup's Kubernetes objects in the
repository (--repo or --s3-bucket, password from --password-file or
$QUIESCE_REPO_PASSWORD), which a Restore recreates; with no repository
given it stores none and says so.
With --schedule and --backup-template it first creates a Backup named
<schedule>-<UTC timestamp> from the template (a Backup spec in Velero's shape).
Exits non-zero when the Backup ends Failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			if (backupName == "") == (schedule == "") {
				return errors.New("give exactly one of --backup NAME or --schedule NAME (with --backup-template)")
			}
			sel, err := labels.Parse(agentSelector)
			if err != nil {
				return fmt.Errorf("--agent-selector %q: %w", agentSelector, err)
			}
			// At client-go's default of 5 requests a second, writing 200
			// NodeBackups took 40 s and each group gate waited its turn.
			c, err := kf.bulkClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if schedule != "" {
				b, err := backupFromTemplate(schedule, kf.namespace, templateFile, time.Now())
				if err != nil {
					return err
				}
				if err := c.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
					return fmt.Errorf("schedule %s: create backup %s: %w", schedule, b.Name, err)
				}
				backupName = b.Name
			}
			events, stopEvents, err := kf.eventRecorder("quiesce-coordinator", "")
			if err != nil {
				return err
			}
			defer stopEvents()
			rec, err := kf.resourceRecorder(&rf, log)
			if err != nil {
				return err
			}
			cfg, err := kf.restConfig()
			if err != nil {
				return err
			}
			execer, err := podexec.New(cfg) // backup-level hooks (spec.hooks.backup)
			if err != nil {
				return err
			}
			co := &coordinator.Coordinator{Client: c, Log: log, AgentNamespace: kf.namespace, AgentSelector: sel, Timeout: timeout, Events: events,
				Exec: execer, Jobs: &coordinator.KubeJobs{Client: c, Logs: execer}}
			if rec != nil {
				co.Resources = rec
			}
			b, err := co.Run(ctx, types.NamespacedName{Namespace: kf.namespace, Name: backupName})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s/%s: %s (%d pods, %d hooks failed)\n", b.Namespace, b.Name, b.Status.Phase, b.Status.PodCounts.Total, b.Status.HooksFailed)
			if b.Status.Phase == api.BackupPhaseFailed {
				return fmt.Errorf("backup %s/%s failed: %v", b.Namespace, b.Name, b.Status.Errors)
			}
			return nil
		},
	}
	kf.add(cmd.Flags())
	rf.add(cmd.Flags())
	cmd.Flags().StringVar(&backupName, "backup", "", "name of the Backup to run")
	cmd.Flags().StringVar(&schedule, "schedule", "", "schedule name: create the Backup from --backup-template first")
	cmd.Flags().StringVar(&templateFile, "backup-template", "", "file with the Backup spec of the schedule")
	cmd.Flags().StringVar(&agentSelector, "agent-selector", envOr("QUIESCE_AGENT_SELECTOR", "app.kubernetes.io/component=agent"), "label selector of the agent pods")
	cmd.Flags().DurationVar(&timeout, "timeout", 4*time.Hour, "pods not finished by then fail")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// backupFromTemplate makes a schedule's Backup for time now.
func backupFromTemplate(schedule, namespace, file string, now time.Time) (*api.Backup, error) {
	if file == "" {
		return nil, fmt.Errorf("schedule %s: --backup-template is required", schedule)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", schedule, err)
	}
	var spec api.BackupSpec
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		return nil, fmt.Errorf("schedule %s: backup template %s: %w (it holds a Backup spec: includedNamespaces, hooks, ttl, ...)", schedule, file, err)
	}
	return &api.Backup{
		TypeMeta: metav1.TypeMeta{APIVersion: api.GroupVersion.String(), Kind: "Backup"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      schedule + "-" + now.UTC().Format("20060102150405"),
			Labels:    map[string]string{coordinator.LabelSchedule: schedule},
		},
		Spec: spec,
	}, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// resourceRecorder stores Backups' objects in the repository of rf, read
// from the cluster of k. It returns nil (and warns) when no repository is
// given: the backup then keeps only its volume data.
func (k *kubeFlags) resourceRecorder(rf *repoFlags, log *zap.Logger) (*repoRecorder, error) {
	if rf.path == "" && rf.s3.Bucket == "" {
		log.Warn("no repository given (--repo or --s3-bucket): the backup's Kubernetes objects are not stored, and a restore will have only volume data")
		return nil, nil
	}
	cfg, err := k.bulkRestConfig() // one list per resource type and namespace
	if err != nil {
		return nil, err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return &repoRecorder{rf: rf, log: log, disco: disco, dyn: dyn}, nil
}

// repoRecorder opens the repository twice: before anything freezes
// (Check: one that cannot be opened at all, a wrong password or missing
// storage, would fail every upload after the thaw) and when the Backup
// finishes, to store its objects; a failure then makes the Backup
// PartiallyFailed, not Failed, as its volumes are stored.
type repoRecorder struct {
	rf    *repoFlags
	log   *zap.Logger
	disco discovery.DiscoveryInterface
	dyn   dynamic.Interface
}

// Check implements coordinator.ResourceRecorder: the repository opens (or
// is created) with the coordinator's settings, which are the agents'.
func (r *repoRecorder) Check(ctx context.Context) error {
	e, err := openRepository(ctx, r.rf, true, r.log)
	if err != nil {
		return err
	}
	return e.Close(context.WithoutCancel(ctx))
}

func (r *repoRecorder) Record(ctx context.Context, b *api.Backup, pods []api.PodResult) (api.BackupProgress, []string, error) {
	e, err := openRepository(ctx, r.rf, true, r.log)
	if err != nil {
		return api.BackupProgress{}, nil, err
	}
	defer e.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	rec := &resources.Recorder{Discovery: r.disco, Dynamic: r.dyn, Store: &resources.RepoStore{Engine: e}}
	return rec.Record(ctx, b, pods)
}
