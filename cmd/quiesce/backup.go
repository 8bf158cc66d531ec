package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/coordinator"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/podexec"
	"github.com/quiesce-dev/quiesce/internal/render"
	"github.com/quiesce-dev/quiesce/internal/runjob"
	"github.com/quiesce-dev/quiesce/resources"
)

func newBackupCommand(kf *kubeFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Create, list and describe Backups"}
	cmd.AddCommand(newBackupCreateCommand(kf), newBackupGetCommand(kf), newBackupDescribeCommand(kf), newBackupLogsCommand(),
		newBackupVerifyCommand(kf))
	return cmd
}

func newBackupCreateCommand(kf *kubeFlags) *cobra.Command {
	var (
		fromFile, selector, logLevel string
		include, exclude             []string
		defaultVolumes, wait, here   bool
		ttl, maxFreeze               time.Duration
		rf                           repoFlags
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a Backup and start it now",
		Long: `Creates a Backup from flags or from --from-file (a quiesce.dev/v1alpha1 or velero.io/v1
Backup or Schedule manifest, used as it is) and starts it: by a Job made from the
chart's coordinator CronJob, or in this process with --run-here.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b := &api.Backup{}
			if fromFile != "" {
				data, err := os.ReadFile(fromFile)
				if err != nil {
					return err
				}
				if b, err = api.DecodeBackup(data); err != nil {
					return fmt.Errorf("%s: %w", fromFile, err)
				}
			}
			if len(args) == 1 {
				b.Name = args[0]
			}
			if b.Name == "" {
				return fmt.Errorf("give the backup a NAME (or a metadata.name in --from-file)")
			}
			b.Namespace = kf.namespace
			if cmd.Flags().Changed("include-namespaces") {
				b.Spec.IncludedNamespaces = include
			}
			if cmd.Flags().Changed("exclude-namespaces") {
				b.Spec.ExcludedNamespaces = exclude
			}
			if selector != "" {
				ls, err := metav1.ParseToLabelSelector(selector)
				if err != nil {
					return fmt.Errorf("--selector %q: %w", selector, err)
				}
				b.Spec.LabelSelector = ls
			}
			if cmd.Flags().Changed("default-volumes-to-fs-backup") {
				b.Spec.DefaultVolumesToFsBackup = &defaultVolumes
			}
			if cmd.Flags().Changed("ttl") {
				b.Spec.TTL = metav1.Duration{Duration: ttl}
			}
			if cmd.Flags().Changed("max-freeze") {
				b.Spec.MaxFreeze = &metav1.Duration{Duration: maxFreeze}
			}
			c, err := kf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.Create(ctx, b); err != nil {
				return fmt.Errorf("create backup %s/%s: %w", b.Namespace, b.Name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s/%s created\n", b.Namespace, b.Name)
			key := types.NamespacedName{Namespace: b.Namespace, Name: b.Name}
			if here {
				log, err := newLogger(logLevel)
				if err != nil {
					return err
				}
				co := &coordinator.Coordinator{Client: c, Log: log, AgentNamespace: kf.namespace,
					AgentSelector: labels.SelectorFromSet(labels.Set{"app.kubernetes.io/component": "agent"})}
				rec, err := kf.resourceRecorder(&rf, log)
				if err != nil {
					return err
				}
				if rec != nil {
					co.Resources = rec
				}
				cfg, err := kf.restConfig()
				if err != nil {
					return err
				}
				execer, err := podexec.New(cfg) // backup-level hooks
				if err != nil {
					return err
				}
				co.Exec, co.Jobs = execer, &coordinator.KubeJobs{Client: c, Logs: execer}
				res, err := co.Run(ctx, key)
				if err != nil {
					return err
				}
				return printFinal(cmd.OutOrStdout(), res)
			}
			job, err := runjob.Start(ctx, c, kf.namespace, runjob.ForBackup(b.Name))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "coordinator job %s/%s started\n", job.Namespace, job.Name)
			if !wait {
				return nil
			}
			res, err := waitBackup(ctx, c, key, job.Name, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			return printFinal(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&fromFile, "from-file", "f", "", "Backup or Schedule manifest (quiesce.dev/v1alpha1 or velero.io/v1)")
	f.StringSliceVar(&include, "include-namespaces", nil, "namespaces to back up (default all)")
	f.StringSliceVar(&exclude, "exclude-namespaces", nil, "namespaces to leave out")
	f.StringVarP(&selector, "selector", "l", "", "label selector of the pods")
	f.BoolVar(&defaultVolumes, "default-volumes-to-fs-backup", false, "back up every volume unless excluded by annotation")
	f.DurationVar(&ttl, "ttl", 0, "keep the snapshots this long")
	f.DurationVar(&maxFreeze, "max-freeze", 0, "longest a pod may stay frozen (default 5m)")
	f.BoolVar(&wait, "wait", false, "stream progress until the backup is final")
	f.BoolVar(&here, "run-here", false, "run the coordinator in this process instead of a Job")
	f.StringVar(&logLevel, "log-level", "info", "with --run-here: debug, info, warn or error")
	rf.add(f) // with --run-here: the repository the Backup's objects are stored in
	return cmd
}

// waitBackup prints each change of the Backup's phase or pod progress until
// it is final; a coordinator Job that fails for good ends the wait with its
// reason.
func waitBackup(ctx context.Context, c client.WithWatch, key types.NamespacedName, job string, out io.Writer) (*api.Backup, error) {
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	err := waitFinal(ctx, c, b, &api.BackupList{}, job, out,
		func(ctx context.Context) progress { return backupProgress(b, nodeBackupPods(ctx, c, b)) },
		func() bool { return b.Status.Phase.Final() })
	if err != nil {
		return nil, err
	}
	return b, nil
}

// nodeBackupPods returns the per-pod results of b's NodeBackups, for the
// progress line: none when they cannot be read (the line then shows the
// counts alone; the wait goes on).
func nodeBackupPods(ctx context.Context, c client.Client, b *api.Backup) []api.PodResult {
	var list api.NodeBackupList
	if err := c.List(ctx, &list, client.InNamespace(b.Namespace), client.MatchingLabels{api.LabelBackup: b.Name}); err != nil {
		return nil
	}
	pods, _ := api.BackupReport(nil, list.Items)
	return pods
}

func printFinal(out io.Writer, b *api.Backup) error {
	fmt.Fprintf(out, "backup %s/%s: %s\n", b.Namespace, b.Name, b.Status.Phase)
	if b.Status.Phase == api.BackupPhaseFailed {
		return fmt.Errorf("backup %s/%s failed: %s", b.Namespace, b.Name, strings.Join(b.Status.Errors, "; "))
	}
	return nil
}

// backups is how get and describe show Backups; rf is the repository
// describe --details lists the stored objects from (nil: none).
func backups(rf *repoFlags) kindView[api.Backup, *api.Backup] {
	return kindView[api.Backup, *api.Backup]{kind: "backup", title: "Backup",
		list:  listed(func(l *api.BackupList) []api.Backup { return l.Items }),
		table: printBackupTable,
		describe: func(ctx context.Context, out io.Writer, b *api.Backup, details bool) error {
			describeBackup(out, b, details)
			if !details || rf == nil {
				return nil
			}
			return describeStored(ctx, out, rf, b)
		},
	}
}

func newBackupGetCommand(kf *kubeFlags) *cobra.Command { return backups(nil).getCommand(kf) }

func printBackupTable(out io.Writer, items []api.Backup) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPHASE\tPODS\tHOOKS FAILED\tERRORS\tWARNINGS\tSTARTED\tDURATION\tEXPIRES")
	for _, b := range items {
		st := b.Status
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%d\t%d\t%s\t%s\t%s\n", b.Name, orDash(string(st.Phase)), st.PodCounts.Total,
			st.HooksFailed, st.HooksAttempted, len(st.Errors), len(st.Warnings), timeOrDash(st.StartTimestamp),
			durationOrDash(st.StartTimestamp, st.CompletionTimestamp), timeOrDash(st.Expiration))
	}
	return tw.Flush()
}

func newBackupDescribeCommand(kf *kubeFlags) *cobra.Command {
	rf := &repoFlags{}
	cmd := backups(rf).describeCommand(kf, "Show a Backup: per pod its hooks, volumes and freeze window",
		`Shows a Backup's status: per pod its hooks, volumes and freeze window.
With --details, also every hook's output and every volume, and, when the
repository is given (--repo or --s3-bucket, with --password-file or
$QUIESCE_REPO_PASSWORD), the Kubernetes objects stored with the backup.`,
		"every hook with its output excerpt, every volume, the stored objects")
	rf.add(cmd.Flags())
	return cmd
}

// describeStored prints the per-pod report and lists the objects stored
// with b, read from the repository of rf; without a repository it says how
// to get them.
func describeStored(ctx context.Context, out io.Writer, rf *repoFlags, b *api.Backup) error {
	if rf.path == "" && rf.s3.Bucket == "" {
		fmt.Fprintln(out, "\nPods, objects: to list them, give the repository (--repo PATH or --s3-bucket, and --password-file)")
		return nil
	}
	e, err := rf.open(ctx)
	if err != nil {
		return err
	}
	defer e.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	doc, err := (&resources.RepoStore{Engine: e}).Load(ctx, b.Name)
	if errors.Is(err, fsbackup.ErrNoResources) {
		fmt.Fprintf(out, "\nPods, objects: none stored: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nPods (%d, from the repository):\n", len(doc.Pods))
	o := render.Options{Indent: "  ", Detail: render.Output}
	for _, p := range doc.Pods {
		render.BackupPod(out, p, o)
	}
	printStoredObjects(out, doc)
	return nil
}

// printStoredObjects groups the document's objects by resource, in the
// document's order: "deployments.apps (2): shop/api, shop/web".
func printStoredObjects(out io.Writer, doc *resources.Document) {
	fmt.Fprintf(out, "\nObjects (%d, collected %s):\n", len(doc.Items), doc.CollectedAt.UTC().Format(time.RFC3339))
	var order []string
	names := map[string][]string{}
	for _, it := range doc.Items {
		gr := it.GroupResource()
		if _, ok := names[gr]; !ok {
			order = append(order, gr)
		}
		n := it.Object.GetName()
		if ns := it.Object.GetNamespace(); ns != "" {
			n = ns + "/" + n
		}
		names[gr] = append(names[gr], n)
	}
	for _, gr := range order {
		fmt.Fprintf(out, "  %s (%d): %s\n", gr, len(names[gr]), strings.Join(names[gr], ", "))
	}
	for _, w := range doc.Warnings {
		fmt.Fprintf(out, "  warning: %s\n", w)
	}
}

func describeBackup(out io.Writer, b *api.Backup, details bool) {
	st := b.Status
	fmt.Fprintf(out, "Name:         %s/%s\n", b.Namespace, b.Name)
	fmt.Fprintf(out, "Phase:        %s\n", orDash(string(st.Phase)))
	fmt.Fprintf(out, "Namespaces:   included %s, excluded %s\n", listOrAll(b.Spec.IncludedNamespaces), listOrDash(b.Spec.ExcludedNamespaces))
	if b.Spec.LabelSelector != nil {
		s, _ := metav1.LabelSelectorAsSelector(b.Spec.LabelSelector)
		fmt.Fprintf(out, "Selector:     %s\n", s)
	}
	fmt.Fprintf(out, "Started:      %s\n", timeOrDash(st.StartTimestamp))
	fmt.Fprintf(out, "Completed:    %s (%s)\n", timeOrDash(st.CompletionTimestamp), durationOrDash(st.StartTimestamp, st.CompletionTimestamp))
	fmt.Fprintf(out, "Expires:      %s\n", timeOrDash(st.Expiration))
	fmt.Fprintf(out, "Hooks:        %d attempted, %d failed\n", st.HooksAttempted, st.HooksFailed)
	if st.Progress.TotalItems > 0 {
		fmt.Fprintf(out, "Objects:      %d of %d stored in the repository\n", st.Progress.ItemsBackedUp, st.Progress.TotalItems)
	}
	for _, e := range st.Errors {
		fmt.Fprintf(out, "Error:        %s\n", e)
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(out, "Warning:      %s\n", w)
	}
	o := render.Options{Indent: "  ", Detail: render.Summary}
	if details {
		o.Detail = render.Output
	}
	if st.Verification != nil {
		fmt.Fprintf(out, "\nVerification:\n")
		render.Verification(out, st.Verification, o)
	}
	if len(st.BackupHooks) > 0 {
		fmt.Fprintf(out, "\nBackup hooks (%d):\n", len(st.BackupHooks))
		render.BackupHooks(out, st.BackupHooks, o)
	}
	c := st.PodCounts
	fmt.Fprintf(out, "\nPods:         %d: %d completed, %d failed, %d skipped, %d in progress\n", c.Total, c.Completed, c.Failed, c.Skipped, c.InProgress)
	if len(st.FailedPods) > 0 {
		more := ""
		if c.Failed > len(st.FailedPods) {
			more = fmt.Sprintf(", the first %d", len(st.FailedPods))
		}
		fmt.Fprintf(out, "\nFailed pods (%d%s):\n", c.Failed, more)
		for _, p := range st.FailedPods {
			render.BackupPod(out, p, o)
		}
	}
	switch {
	case st.Report == api.ReportInRepository && !details:
		fmt.Fprintln(out, "\nEvery pod's result is stored in the repository: quiesce backup describe --details --repo ...")
	case st.Report == "" && st.Phase.Final():
		fmt.Fprintln(out, "\nThe per-pod report was not stored in the repository (see the errors).")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func listOrAll(l []string) string {
	if len(l) == 0 {
		return "*"
	}
	return strings.Join(l, ",")
}

func listOrDash(l []string) string { return orDash(strings.Join(l, ",")) }

func timeOrDash(t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func durationOrDash(start, end *metav1.Time) string {
	if start == nil || end == nil {
		return "-"
	}
	return render.Duration(end.Sub(start.Time))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func newBackupLogsCommand() *cobra.Command {
	rf := &repoFlags{}
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a backup's log (every pod's hooks with their output, volumes, outcome) from the repository",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			logs, err := e.Logs(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(logs) == 0 {
				return fmt.Errorf("no logs of backup %q in the repository (the agents store one per pod when it finishes)", args[0])
			}
			for _, l := range logs {
				fmt.Fprintf(cmd.OutOrStdout(), "=== %s (%s)\n%s\n", l.Key, l.Time.UTC().Format(time.RFC3339), l.Text)
			}
			return nil
		},
	}
	rf.add(cmd.Flags())
	return cmd
}
