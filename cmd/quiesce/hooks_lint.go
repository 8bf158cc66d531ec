package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hook/lint"
)

func newHooksLintCommand() *cobra.Command {
	var files []string
	var output string
	cmd := &cobra.Command{
		Use:   "lint -f FILE [-f FILE...]",
		Short: "Validate hooks in manifests and print what each pod template resolves to",
		Long: `lint reads Kubernetes manifests (multi-document YAML; "-" is stdin): workloads with a
pod template and Backup, Schedule and Restore objects (velero.io/v1 or quiesce.dev/v1alpha1).
It prints the hooks each pod template resolves to, from its annotations and with each
Backup/Schedule/Restore of the input, then every problem. It exits 1 if there is any.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("hooks lint: no input (use -f FILE, or -f - for stdin)")
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("hooks lint: --output %q: use text or json", output)
			}
			var l lint.Linter
			for _, f := range files {
				if err := addFile(&l, f, cmd.InOrStdin()); err != nil {
					return fmt.Errorf("hooks lint: %w", err)
				}
			}
			rep := l.Report()
			out := cmd.OutOrStdout()
			var err error
			if output == "json" {
				err = writeLintJSON(out, rep)
			} else {
				err = writeLintText(out, rep)
			}
			if err != nil {
				return fmt.Errorf("hooks lint: write: %w", err)
			}
			if rep.HasErrors() {
				return fmt.Errorf("hooks lint: %d problem(s)", len(rep.Problems))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, `manifest file to lint ("-" for stdin); repeatable`)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func addFile(l *lint.Linter, name string, stdin io.Reader) error {
	if name == "-" {
		return l.Add("stdin", stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return l.Add(name, f)
}

func writeLintText(w io.Writer, rep lint.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rep.Resolved {
		head := r.Object
		if r.With != "" {
			head += " with " + r.With
		}
		fmt.Fprintln(tw, head)
		if len(r.Hooks) == 0 && len(r.Init) == 0 {
			fmt.Fprintln(tw, "  (no hooks)")
			continue
		}
		fmt.Fprintln(tw, "  PHASE\tNAME\tCONTAINER\tCOMMAND\tTIMEOUT\tON-ERROR\tSOURCE\tNOTES")
		for _, h := range r.Hooks {
			cmd := commandString(h.Command)
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s %s\t%s\n", h.Phase, h.Name, h.Container, cmd,
				h.Timeout, h.OnError, h.Source.Kind, h.Source.Ref, notes(h))
		}
		for _, h := range r.Init {
			cmd := commandString(h.Container.Command)
			timeout := "-"
			if h.Timeout > 0 {
				timeout = h.Timeout.String()
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s %s\timage=%s\n", hook.InitRestore, h.Name, h.Container.Name, cmd,
				timeout, "-", h.Source.Kind, h.Source.Ref, h.Container.Image)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintf(w, "\n%d warning(s):\n", len(rep.Warnings))
		for _, n := range rep.Warnings {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintf(w, "\n%d note(s):\n", len(rep.Notes))
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if len(rep.Problems) == 0 {
		_, err := fmt.Fprintln(w, "\nno problems")
		return err
	}
	fmt.Fprintf(w, "\n%d problem(s):\n", len(rep.Problems))
	for _, p := range rep.Problems {
		if _, err := fmt.Fprintf(w, "  %s\n", p); err != nil {
			return err
		}
	}
	return nil
}

func notes(h hook.Hook) string {
	var n []string
	if h.Phase == hook.PostBackup && h.When != hook.Always && h.When != "" {
		n = append(n, "when="+string(h.When))
	}
	if h.Retries > 0 {
		n = append(n, fmt.Sprintf("retries=%d", h.Retries))
	}
	if h.Mode == hook.Hold && h.Hold != nil {
		n = append(n, fmt.Sprintf("mode=Hold readyLine=%q readyTimeout=%s releaseInput=%q releaseTimeout=%s",
			h.Hold.ReadyLine, h.Hold.ReadyTimeout, h.Hold.ReleaseInput, h.Hold.ReleaseTimeout))
	}
	if h.WaitTimeout > 0 {
		n = append(n, "waitTimeout="+h.WaitTimeout.String())
	}
	if h.WaitForReady {
		n = append(n, "waitForReady")
	}
	return strings.Join(n, " ")
}

// lintJSON is the JSON output: durations as strings ("30s").
type lintJSON struct {
	Resolved []resolvedJSON `json:"resolved"`
	Problems []problemJSON  `json:"problems"`
	Warnings []problemJSON  `json:"warnings,omitempty"`
	Notes    []problemJSON  `json:"notes,omitempty"`
}

type resolvedJSON struct {
	Object string         `json:"object"`
	With   string         `json:"with,omitempty"`
	Hooks  []hookJSON     `json:"hooks"`
	Init   []initHookJSON `json:"init,omitempty"`
}

type hookJSON struct {
	Name         string       `json:"name"`
	Phase        hook.Phase   `json:"phase"`
	Source       hook.Source  `json:"source"`
	Container    string       `json:"container"`
	Command      []string     `json:"command"`
	Timeout      string       `json:"timeout"`
	OnError      hook.OnError `json:"onError"`
	Retries      int          `json:"retries,omitempty"`
	When         hook.When    `json:"when,omitempty"`
	Mode         hook.Mode    `json:"mode,omitempty"`
	Hold         *holdJSON    `json:"hold,omitempty"`
	WaitTimeout  string       `json:"waitTimeout,omitempty"`
	WaitForReady bool         `json:"waitForReady,omitempty"`
}

type holdJSON struct {
	ReadyLine      string `json:"readyLine,omitempty"`
	ReadyTimeout   string `json:"readyTimeout"`
	ReleaseInput   string `json:"releaseInput,omitempty"`
	ReleaseTimeout string `json:"releaseTimeout"`
}

type initHookJSON struct {
	Name      string      `json:"name"`
	Source    hook.Source `json:"source"`
	Container any         `json:"container"`
	Timeout   string      `json:"timeout,omitempty"`
}

type problemJSON struct {
	hook.Problem
	Text string `json:"text"`
}

func writeLintJSON(w io.Writer, rep lint.Report) error {
	out := lintJSON{Resolved: []resolvedJSON{}, Problems: []problemJSON{}}
	for _, r := range rep.Resolved {
		rj := resolvedJSON{Object: r.Object, With: r.With, Hooks: []hookJSON{}}
		for _, h := range r.Hooks {
			hj := hookJSON{Name: h.Name, Phase: h.Phase, Source: h.Source, Container: h.Container, Command: h.Command,
				Timeout: h.Timeout.String(), OnError: h.OnError, Retries: h.Retries, When: h.When, Mode: h.Mode,
				WaitForReady: h.WaitForReady}
			if h.WaitTimeout > 0 {
				hj.WaitTimeout = h.WaitTimeout.String()
			}
			if h.Hold != nil {
				hj.Hold = &holdJSON{ReadyLine: h.Hold.ReadyLine, ReadyTimeout: h.Hold.ReadyTimeout.String(),
					ReleaseInput: h.Hold.ReleaseInput, ReleaseTimeout: h.Hold.ReleaseTimeout.String()}
			}
			rj.Hooks = append(rj.Hooks, hj)
		}
		for _, h := range r.Init {
			ij := initHookJSON{Name: h.Name, Source: h.Source, Container: h.Container}
			if h.Timeout > 0 {
				ij.Timeout = h.Timeout.String()
			}
			rj.Init = append(rj.Init, ij)
		}
		out.Resolved = append(out.Resolved, rj)
	}
	for _, p := range rep.Problems {
		out.Problems = append(out.Problems, problemJSON{Problem: p, Text: p.String()})
	}
	for _, n := range rep.Warnings {
		out.Warnings = append(out.Warnings, problemJSON{Problem: n, Text: n.String()})
	}
	for _, n := range rep.Notes {
		out.Notes = append(out.Notes, problemJSON{Problem: n, Text: n.String()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// commandString shows a command as the JSON array a user would write, with
// shell characters (&, <, >) as they are, not HTML-escaped.
func commandString(cmd []string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(cmd)
	return strings.TrimSpace(b.String())
}
