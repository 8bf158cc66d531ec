package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	criContainerd "github.com/quiesce-dev/quiesce/cri/containerd"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hookrun"
	"github.com/quiesce-dev/quiesce/internal/render"
)

type hooksTestFlags struct {
	pod, uid, podFile, kubeconfig string
	endpoint, fifoDir, logLevel   string
	output                        string
	hold                          time.Duration
}

func newHooksTestCommand() *cobra.Command {
	var f hooksTestFlags
	cmd := &cobra.Command{
		Use:   "test --pod NS/NAME [--uid UID] [--hold 5s] [--pod-file FILE | --kubeconfig FILE]",
		Short: "Run a pod's backup pre-hooks, wait, then its post-hooks, on this node, through the CRI",
		Long: `test runs, on the node where the pod runs (as root, like the agent), the pod's pre-backup
hooks (freeze), waits --hold, then releases held hooks and runs its post-backup hooks (thaw),
and prints each hook's result. The pod spec comes from --pod-file (YAML or JSON, e.g. the output
of "kubectl get pod -o yaml") or else from the API server (--kubeconfig, $KUBECONFIG or
in-cluster). Hooks resolve from the pod's annotations as the agent resolves them. It exits 1 if a
hook failed or the pod's hooks do not validate. Ctrl-C during the hold thaws at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runHooksTest(ctx, cmd.OutOrStdout(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.pod, "pod", "", "the pod, as NAMESPACE/NAME (required)")
	fs.StringVar(&f.uid, "uid", "", "the pod's UID (default: from the pod spec); identifies its containers on the node")
	fs.DurationVar(&f.hold, "hold", 5*time.Second, "how long to stay frozen between pre- and post-hooks")
	fs.StringVar(&f.podFile, "pod-file", "", "read the pod from this YAML/JSON file instead of the API server")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&f.endpoint, "runtime-endpoint", criContainerd.DefaultEndpoint, "containerd socket")
	fs.StringVar(&f.fifoDir, "fifo-dir", "", "directory for exec stdio FIFOs (default: containerd's)")
	fs.StringVar(&f.logLevel, "log-level", "error", "log level: debug, info, warn or error (logs go to stderr; results are printed anyway)")
	fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	_ = fs.MarkHidden("fifo-dir")
	_ = cmd.MarkFlagRequired("pod")
	return cmd
}

func runHooksTest(ctx context.Context, out io.Writer, f hooksTestFlags) error {
	ns, name, ok := strings.Cut(f.pod, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("hooks test: --pod %q: use NAMESPACE/NAME", f.pod)
	}
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("hooks test: --output %q: use text or json", f.output)
	}
	log, err := newLogger(f.logLevel)
	if err != nil {
		return fmt.Errorf("hooks test: %w", err)
	}
	defer func() { _ = log.Sync() }()

	pod, err := loadPod(ctx, f, ns, name)
	if err != nil {
		return fmt.Errorf("hooks test: %w", err)
	}
	switch {
	case f.uid != "" && pod.UID != "" && string(pod.UID) != f.uid:
		return fmt.Errorf("hooks test: pod %s/%s: --uid %s but the pod spec has uid %s (the pod was re-created? fetch it again)", ns, name, f.uid, pod.UID)
	case f.uid != "":
		pod.UID = types.UID(f.uid)
	case pod.UID == "":
		return fmt.Errorf("hooks test: pod %s/%s: the pod spec has no metadata.uid: pass --uid (kubectl get pod -n %s %s -o jsonpath='{.metadata.uid}')", ns, name, ns, name)
	}
	pre, post, err := hook.BackupHooks(pod, nil)
	if err != nil {
		return fmt.Errorf("hooks test: pod %s/%s: hooks do not validate, nothing was run: %w", ns, name, err)
	}
	if len(pre)+len(post) == 0 {
		fmt.Fprintf(out, "pod %s/%s has no backup hooks\n", ns, name)
		return nil
	}

	rt, err := criContainerd.New(criContainerd.Options{Endpoint: f.endpoint, FIFODir: f.fifoDir, Logger: log})
	if err != nil {
		return fmt.Errorf("hooks test: %w", err)
	}
	defer rt.Close()
	ref := hookrun.PodRef{Namespace: ns, Name: name, UID: string(pod.UID)}
	opts := hookrun.Options{Logger: log}

	frozen, preRes := hookrun.Freeze(ctx, rt, ref, pre, opts)
	froze := preRes.Err() == nil
	if froze && f.hold > 0 {
		fmt.Fprintf(out, "frozen: %d pre-hook(s) ran, %d held; holding %s\n", len(preRes), frozen.Held(), f.hold)
		select {
		case <-time.After(f.hold):
		case <-ctx.Done():
			fmt.Fprintln(out, "interrupted: thawing now")
		}
	}
	// Thaw detaches from ctx: an interrupt must not skip it.
	postRes := frozen.Thaw(ctx, post, froze)
	all := append(append(hookrun.Results{}, preRes...), postRes...)
	if err := printHookResults(out, f.output, all); err != nil {
		return fmt.Errorf("hooks test: write: %w", err)
	}
	if all.Failed() {
		n := 0
		for _, r := range all {
			if r.Failed() {
				n++
			}
		}
		return fmt.Errorf("hooks test: pod %s/%s: %d hook(s) failed", ns, name, n)
	}
	return nil
}

func loadPod(ctx context.Context, f hooksTestFlags, ns, name string) (*corev1.Pod, error) {
	if f.podFile != "" {
		b, err := os.ReadFile(f.podFile)
		if err != nil {
			return nil, fmt.Errorf("--pod-file: %w", err)
		}
		var pod corev1.Pod
		if err := yaml.Unmarshal(b, &pod); err != nil {
			return nil, fmt.Errorf("--pod-file %s: not a Pod: %w", f.podFile, err)
		}
		if pod.Kind != "" && pod.Kind != "Pod" {
			return nil, fmt.Errorf("--pod-file %s: kind %q: want a Pod", f.podFile, pod.Kind)
		}
		if (pod.Namespace != "" && pod.Namespace != ns) || (pod.Name != "" && pod.Name != name) {
			return nil, fmt.Errorf("--pod-file %s holds pod %s/%s, not %s/%s", f.podFile, pod.Namespace, pod.Name, ns, name)
		}
		pod.Namespace, pod.Name = ns, name
		return &pod, nil
	}
	cfg, err := (&kubeFlags{kubeconfig: f.kubeconfig}).restConfig()
	if err != nil {
		return nil, fmt.Errorf("%w (or pass --pod-file)", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
	}
	return pod, nil
}

type hookResultJSON struct {
	hookrun.Result
	Error string `json:"error,omitempty"`
}

func printHookResults(out io.Writer, format string, rs hookrun.Results) error {
	if format == "json" {
		list := make([]hookResultJSON, len(rs))
		for i, r := range rs {
			list[i] = hookResultJSON{Result: r}
			if r.Err != nil {
				list[i].Error = r.Err.Error()
			}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tHOOK\tCONTAINER\tOUTCOME\tEXIT\tDURATION\tCOMMAND")
	for _, r := range rs {
		exit := "-"
		if r.ExitCode >= 0 && r.Outcome != hookrun.Skipped && r.Outcome != hookrun.Held {
			exit = fmt.Sprint(r.ExitCode)
		}
		outcome := string(r.Outcome)
		if r.TimedOut {
			outcome += " (timed out)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Phase, r.Hook, r.Container, outcome, exit, render.Duration(r.Duration), strings.Join(quoteArgs(r.Command), " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		var lines []string
		if r.Err != nil {
			lines = append(lines, "error: "+r.Err.Error())
		}
		if r.Reason != "" {
			lines = append(lines, r.Reason)
		}
		for _, s := range []struct{ name, text string }{{"stdout", r.Stdout}, {"stderr", r.Stderr}} {
			if t := strings.TrimRight(s.text, "\n"); t != "" {
				lines = append(lines, s.name+":\n    "+strings.ReplaceAll(t, "\n", "\n    "))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(out, "\n%s hook %q (%s %s):\n  %s\n", r.Phase, r.Hook, r.Source.Kind, r.Source.Ref, strings.Join(lines, "\n  "))
		}
	}
	return nil
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$;&|<>*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}
