package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/render"
	"github.com/quiesce-dev/quiesce/internal/runjob"
	"github.com/quiesce-dev/quiesce/resources"
	"github.com/quiesce-dev/quiesce/restore"
)

// Defaults of the restore runner's wait init container image, which the
// chart sets through the environment of its Jobs.
const (
	defaultHelperImage = "docker.io/quiesce/quiesce:dev"
	imageEnv           = "QUIESCE_IMAGE"
	pullPolicyEnv      = "QUIESCE_IMAGE_PULL_POLICY"
)

func newRestoreCommand(kf *kubeFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "restore", Short: "Create, run, list and describe Restores"}
	cmd.AddCommand(newRestoreCreateCommand(kf), newRestoreRunCommand(kf), newRestoreGetCommand(kf),
		newRestoreDescribeCommand(kf), newRestoreLogsCommand(kf))
	return cmd
}

// restoreCreateFlags are the flags of `restore create` that make the spec.
type restoreCreateFlags struct {
	fromFile, backup, mappings, selector, policy string
	include, exclude                             []string
	timeout                                      time.Duration
}

func (f *restoreCreateFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.fromFile, "from-file", "f", "", "Restore manifest (quiesce.dev/v1alpha1 or velero.io/v1)")
	fl.StringVar(&f.backup, "from-backup", "", "the Backup to restore")
	fl.StringSliceVar(&f.include, "include-namespaces", nil, "backed-up namespaces to restore (default all)")
	fl.StringSliceVar(&f.exclude, "exclude-namespaces", nil, "backed-up namespaces to leave out")
	fl.StringVar(&f.mappings, "namespace-mappings", "", "restore namespaces into others: SOURCE:TARGET, comma separated (e.g. shop:shop-copy)")
	fl.StringVarP(&f.selector, "selector", "l", "", "restore only objects with matching labels")
	fl.StringVar(&f.policy, "existing-resource-policy", "", "what to do with objects that exist: none (leave them, the default) or update")
	fl.DurationVar(&f.timeout, "timeout", 0, "bound of the whole restore, hooks included (default 1h)")
}

// restore builds the Restore from the manifest, then the flags set
// (changed reports which), named NAME, the manifest's name, or
// <backup>-<timestamp>.
func (f *restoreCreateFlags) restore(args []string, changed func(string) bool, namespace string, now time.Time) (*api.Restore, error) {
	r := &api.Restore{}
	if f.fromFile != "" {
		data, err := os.ReadFile(f.fromFile)
		if err != nil {
			return nil, err
		}
		if r, err = api.DecodeRestore(data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.fromFile, err)
		}
	}
	r.APIVersion, r.Kind = api.GroupVersion.String(), "Restore"
	s := &r.Spec
	if changed("from-backup") {
		s.BackupName = f.backup
	}
	if s.BackupName == "" {
		return nil, errors.New("--from-backup is required: name the Backup to restore (quiesce backup get lists them)")
	}
	if changed("include-namespaces") {
		s.IncludedNamespaces = f.include
	}
	if changed("exclude-namespaces") {
		s.ExcludedNamespaces = f.exclude
	}
	if changed("namespace-mappings") {
		m, err := parseNamespaceMappings(f.mappings)
		if err != nil {
			return nil, err
		}
		s.NamespaceMapping = m
	}
	if changed("selector") {
		ls, err := metav1.ParseToLabelSelector(f.selector)
		if err != nil {
			return nil, fmt.Errorf("--selector %q: %w", f.selector, err)
		}
		s.LabelSelector = ls
	}
	if changed("existing-resource-policy") {
		p := api.ExistingResourcePolicy(f.policy)
		if p != api.ExistingResourcePolicyNone && p != api.ExistingResourcePolicyUpdate {
			return nil, fmt.Errorf("--existing-resource-policy %q: use none or update", f.policy)
		}
		s.ExistingResourcePolicy = p
	}
	if changed("timeout") {
		if f.timeout <= 0 {
			return nil, fmt.Errorf("--timeout %s: give a positive duration (e.g. 30m)", f.timeout)
		}
		s.Timeout = &metav1.Duration{Duration: f.timeout}
	}
	if len(args) == 1 {
		r.Name = args[0]
	}
	if r.Name == "" {
		// The name is also a label value: at most 63 characters.
		r.Name = strings.TrimRight(truncate(s.BackupName, 48), "-.") + "-" + now.UTC().Format("20060102150405")
	}
	r.Namespace = namespace
	return r, nil
}

// parseNamespaceMappings reads "a:b,c:d".
func parseNamespaceMappings(s string) (map[string]string, error) {
	const form = "each mapping is SOURCE:TARGET, comma separated (e.g. shop:shop-copy,db:db-copy)"
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		src, dst, ok := strings.Cut(pair, ":")
		src, dst = strings.TrimSpace(src), strings.TrimSpace(dst)
		if !ok || src == "" || dst == "" {
			return nil, fmt.Errorf("--namespace-mappings %q: %q: %s", s, pair, form)
		}
		for _, ns := range []string{src, dst} {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				return nil, fmt.Errorf("--namespace-mappings %q: %q is not a namespace name: %s", s, ns, strings.Join(errs, "; "))
			}
		}
		if prev, dup := m[src]; dup {
			return nil, fmt.Errorf("--namespace-mappings %q: namespace %q is mapped twice (to %q and %q): map each source namespace once", s, src, prev, dst)
		}
		m[src] = dst
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("--namespace-mappings %q: no mapping given: %s", s, form)
	}
	return m, nil
}

func newRestoreCreateCommand(kf *kubeFlags) *cobra.Command {
	var (
		f          restoreCreateFlags
		wait, here bool
		logLevel   string
		rf         = &repoFlags{}
	)
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a Restore of a Backup and start it now",
		Long: `Creates a Restore from flags or from --from-file (a quiesce.dev/v1alpha1 or velero.io/v1
Restore manifest, used as it is; flags given override it) and starts it: by a Job made
from the chart's runner CronJob, or in this process with --run-here (which then needs
the repository flags). NAME defaults to <backup>-<UTC timestamp>.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := f.restore(args, cmd.Flags().Changed, kf.namespace, time.Now())
			if err != nil {
				return err
			}
			c, err := kf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.Create(ctx, r); err != nil {
				return fmt.Errorf("create restore %s/%s: %w", r.Namespace, r.Name, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "restore %s/%s of backup %s created\n", r.Namespace, r.Name, r.Spec.BackupName)
			key := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
			if here {
				res, err := runRestore(ctx, kf, rf, c, logLevel, key)
				if err != nil {
					return err
				}
				return printRestoreFinal(out, res)
			}
			job, err := runjob.Start(ctx, c, kf.namespace, runjob.ForRestore(r.Name))
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "restore job %s/%s started\n", job.Namespace, job.Name)
			if !wait {
				return nil
			}
			var cur api.Restore
			cur.Namespace, cur.Name = r.Namespace, r.Name
			err = waitFinal(ctx, c, &cur, &api.RestoreList{}, job.Name, out,
				func(context.Context) progress { return restoreProgress(&cur) }, func() bool { return cur.Status.Phase.Final() })
			if err != nil {
				return err
			}
			return printRestoreFinal(out, &cur)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "stream progress until the restore is final")
	cmd.Flags().BoolVar(&here, "run-here", false, "run the restore in this process instead of a Job")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "with --run-here: debug, info, warn or error")
	rf.add(cmd.Flags())
	return cmd
}

func newRestoreRunCommand(kf *kubeFlags) *cobra.Command {
	var logLevel string
	rf := &repoFlags{}
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Run one Restore to a final phase (what the Job of `restore create` runs)",
		Long: `Reads the Backup's stored objects from the repository, recreates them, hands the
restored pods' volume data and hooks to the agents and follows them until the Restore
is final. The wait init container runs $` + imageEnv + ` (default ` + defaultHelperImage + `),
pulled by $` + pullPolicyEnv + ` (default IfNotPresent). Exits non-zero when the Restore
ends Failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := kf.client()
			if err != nil {
				return err
			}
			res, err := runRestore(cmd.Context(), kf, rf, c, logLevel, types.NamespacedName{Namespace: kf.namespace, Name: args[0]})
			if err != nil {
				return err
			}
			return printRestoreFinal(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	rf.add(cmd.Flags())
	return cmd
}

// runRestore runs the Restore key in this process.
func runRestore(ctx context.Context, kf *kubeFlags, rf *repoFlags, c client.WithWatch, logLevel string, key types.NamespacedName) (*api.Restore, error) {
	log, err := newLogger(logLevel)
	if err != nil {
		return nil, err
	}
	defer log.Sync() //nolint:errcheck
	cfg, err := kf.bulkRestConfig()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	events, stopEvents, err := kf.eventRecorder("quiesce-restore", "")
	if err != nil {
		return nil, err
	}
	defer stopEvents()
	var loader restore.Loader
	e, err := rf.open(ctx)
	if err != nil {
		// The Restore still ends, Failed with this reason.
		loader = failedLoader{fmt.Errorf("open the repository: %w", err)}
	} else {
		defer e.Close(context.WithoutCancel(ctx))
		loader = &resources.RepoStore{Engine: e}
	}
	r := &restore.Runner{Client: c, Dynamic: dyn, Resources: loader, Log: log, Events: events,
		HelperImage: envOr(imageEnv, defaultHelperImage), HelperPullPolicy: corev1.PullPolicy(envOr(pullPolicyEnv, string(corev1.PullIfNotPresent)))}
	return r.Run(ctx, key)
}

type failedLoader struct{ err error }

func (l failedLoader) Load(context.Context, string) (*resources.Document, error) { return nil, l.err }

func printRestoreFinal(out io.Writer, r *api.Restore) error {
	st := r.Status
	fmt.Fprintf(out, "restore %s/%s: %s (%d of %d objects restored, %d pods, %d hooks failed, %d errors, %d warnings)\n", r.Namespace, r.Name,
		st.Phase, st.Progress.ItemsRestored, st.Progress.TotalItems, len(st.Pods), st.HooksFailed, len(st.Errors), len(st.Warnings))
	if st.Phase == api.RestorePhaseFailed {
		return fmt.Errorf("restore %s/%s failed: %s", r.Namespace, r.Name, orDash(st.FailureReason))
	}
	return nil
}

// restores is how get and describe show Restores.
var restores = kindView[api.Restore, *api.Restore]{kind: "restore", title: "Restore",
	list:  listed(func(l *api.RestoreList) []api.Restore { return l.Items }),
	table: printRestoreTable,
	describe: func(_ context.Context, out io.Writer, r *api.Restore, details bool) error {
		describeRestore(out, r, details)
		return nil
	},
}

func newRestoreGetCommand(kf *kubeFlags) *cobra.Command { return restores.getCommand(kf) }

func printRestoreTable(out io.Writer, items []api.Restore) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tBACKUP\tPHASE\tOBJECTS\tPODS\tHOOKS FAILED\tERRORS\tWARNINGS\tSTARTED\tDURATION")
	for _, r := range items {
		st := r.Status
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d/%d\t%d\t%d\t%s\t%s\n", r.Name, r.Spec.BackupName, orDash(string(st.Phase)),
			st.Progress.ItemsRestored, st.Progress.TotalItems, len(st.Pods), st.HooksFailed, st.HooksAttempted, len(st.Errors), len(st.Warnings),
			timeOrDash(st.StartTimestamp), durationOrDash(st.StartTimestamp, st.CompletionTimestamp))
	}
	return tw.Flush()
}

func newRestoreDescribeCommand(kf *kubeFlags) *cobra.Command {
	return restores.describeCommand(kf, "Show a Restore: objects not created, per pod its volumes and hooks, errors and warnings", "",
		"every object not created, hook output excerpts")
}

// describeItems is how many objects not created describe lists without
// --details.
const describeItems = 20

func describeRestore(out io.Writer, r *api.Restore, details bool) {
	st, sp := r.Status, r.Spec
	fmt.Fprintf(out, "Name:         %s/%s\n", r.Namespace, r.Name)
	fmt.Fprintf(out, "Backup:       %s\n", sp.BackupName)
	fmt.Fprintf(out, "Phase:        %s\n", orDash(string(st.Phase)))
	if st.FailureReason != "" {
		fmt.Fprintf(out, "Reason:       %s\n", st.FailureReason)
	}
	fmt.Fprintf(out, "Namespaces:   included %s, excluded %s\n", listOrAll(sp.IncludedNamespaces), listOrDash(sp.ExcludedNamespaces))
	if len(sp.NamespaceMapping) > 0 {
		var m []string
		for src, dst := range sp.NamespaceMapping {
			m = append(m, src+" -> "+dst)
		}
		sort.Strings(m)
		fmt.Fprintf(out, "Mapping:      %s\n", strings.Join(m, ", "))
	}
	if len(sp.IncludedResources)+len(sp.ExcludedResources) > 0 {
		fmt.Fprintf(out, "Resources:    included %s, excluded %s\n", listOrAll(sp.IncludedResources), listOrDash(sp.ExcludedResources))
	}
	if sp.LabelSelector != nil {
		s, _ := metav1.LabelSelectorAsSelector(sp.LabelSelector)
		fmt.Fprintf(out, "Selector:     %s\n", s)
	}
	policy := sp.ExistingResourcePolicy
	if policy == "" {
		policy = api.ExistingResourcePolicyNone
	}
	timeout := restore.DefaultTimeout
	if sp.Timeout != nil {
		timeout = sp.Timeout.Duration
	}
	fmt.Fprintf(out, "Existing:     %s\n", policy)
	fmt.Fprintf(out, "Timeout:      %s\n", timeout)
	fmt.Fprintf(out, "Started:      %s\n", timeOrDash(st.StartTimestamp))
	fmt.Fprintf(out, "Completed:    %s (%s)\n", timeOrDash(st.CompletionTimestamp), durationOrDash(st.StartTimestamp, st.CompletionTimestamp))
	fmt.Fprintf(out, "Objects:      %d of %d restored\n", st.Progress.ItemsRestored, st.Progress.TotalItems)
	fmt.Fprintf(out, "Hooks:        %d attempted, %d failed\n", st.HooksAttempted, st.HooksFailed)
	if len(st.NodeRestores) > 0 {
		fmt.Fprintf(out, "NodeRestores: %s\n", strings.Join(st.NodeRestores, ", "))
	}
	for _, e := range st.Errors {
		fmt.Fprintf(out, "Error:        %s\n", e)
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(out, "Warning:      %s\n", w)
	}

	if len(st.Items) > 0 {
		fmt.Fprintf(out, "\nObjects not created (%d):\n", len(st.Items))
		for i, it := range st.Items {
			if i == describeItems && !details {
				fmt.Fprintf(out, "  ... %d more (--details lists them all)\n", len(st.Items)-i)
				break
			}
			fmt.Fprintf(out, "  %-10s %s %s", it.Outcome, it.Resource, qualified(it.Namespace, it.Name))
			if it.Message != "" {
				fmt.Fprintf(out, ": %s", it.Message)
			}
			fmt.Fprintln(out)
		}
	}

	fmt.Fprintf(out, "\nPods (%d):\n", len(st.Pods))
	o := render.Options{Indent: "  ", Detail: render.Rows}
	if details {
		o.Detail = render.Output
	}
	for _, p := range st.Pods {
		render.RestorePod(out, p, o)
	}
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func newRestoreLogsCommand(kf *kubeFlags) *cobra.Command {
	rf := &repoFlags{}
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a restore's per-pod results (volumes, hooks with output) and, with the repository flags, the agents' stored logs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			c, err := kf.client()
			if err != nil {
				return err
			}
			var r api.Restore
			if err := c.Get(ctx, types.NamespacedName{Namespace: kf.namespace, Name: args[0]}, &r); err != nil {
				return fmt.Errorf("restore %s/%s: %w", kf.namespace, args[0], err)
			}
			printRestoreLogs(out, &r)
			if rf.path == "" && rf.s3.Bucket == "" {
				fmt.Fprintln(out, "(the agents' logs stored in the repository: pass --repo or --s3-bucket)")
				return nil
			}
			e, err := rf.open(ctx)
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(ctx))
			// The agents store each pod's restore log under this name.
			logs, err := e.Logs(ctx, "restore/"+r.Name)
			if err != nil {
				return err
			}
			if len(logs) == 0 {
				fmt.Fprintf(out, "(no logs of restore %s in the repository)\n", r.Name)
			}
			for _, l := range logs {
				fmt.Fprintf(out, "=== repository log %s (%s)\n%s\n", l.Key, l.Time.UTC().Format(time.RFC3339), l.Text)
			}
			return nil
		},
	}
	rf.add(cmd.Flags())
	return cmd
}

func printRestoreLogs(out io.Writer, r *api.Restore) {
	if len(r.Status.Pods) == 0 {
		fmt.Fprintf(out, "restore %s/%s: %s, no pods with volume data or hooks\n", r.Namespace, r.Name, orDash(string(r.Status.Phase)))
	}
	for _, p := range r.Status.Pods {
		render.RestorePod(out, p, render.Options{Detail: render.Output})
	}
}
