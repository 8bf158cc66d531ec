package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/coordinator"
)

func newCoordinatorCommand() *cobra.Command {
	var (
		kf            kubeFlags
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
			c, err := kf.client()
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
			co := &coordinator.Coordinator{Client: c, Log: log, AgentNamespace: kf.namespace, AgentSelector: sel, Timeout: timeout, Events: events}
			b, err := co.Run(ctx, types.NamespacedName{Namespace: kf.namespace, Name: backupName})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s/%s: %s (%d pods, %d hooks failed)\n", b.Namespace, b.Name, b.Status.Phase, len(b.Status.Pods), b.Status.HooksFailed)
			if b.Status.Phase == api.BackupPhaseFailed {
				return fmt.Errorf("backup %s/%s failed: %v", b.Namespace, b.Name, b.Status.Errors)
			}
			return nil
		},
	}
	kf.add(cmd.Flags())
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
