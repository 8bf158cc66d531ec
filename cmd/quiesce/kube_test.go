package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubeconfig writes a kubeconfig with contexts a and b (current: a), each
// its own server.
func kubeconfig(t *testing.T, dir, name, server string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	cfg := `apiVersion: v1
kind: Config
current-context: a
clusters:
- {name: a, cluster: {server: "` + server + `-a"}}
- {name: b, cluster: {server: "` + server + `-b"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: a, context: {cluster: a, user: u, namespace: shop}}
- {name: b, context: {cluster: b, user: u}}
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The connection flags parse as kubectl's do: before or after the command,
// long or short, and pick the kubeconfig file and context kubectl would.
func TestKubeFlags(t *testing.T) {
	dir := t.TempDir()
	envFile := kubeconfig(t, dir, "env", "https://env")
	flagFile := kubeconfig(t, dir, "flag", "https://flag")
	t.Setenv("KUBECONFIG", envFile)
	t.Setenv("HOME", dir) // no ~/.kube/config of the machine's

	for _, tc := range []struct {
		args            []string
		server, ns, cmd string
	}{
		{[]string{"backup", "get"}, "https://env-a", "quiesce", "get"},
		{[]string{"backup", "get", "-n", "backups", "--context", "b"}, "https://env-b", "backups", "get"},
		{[]string{"-n", "backups", "--context=b", "backup", "describe", "x"}, "https://env-b", "backups", "describe"},
		{[]string{"--kubeconfig", flagFile, "restore", "get", "--namespace=r"}, "https://flag-a", "r", "get"},
		{[]string{"restore", "logs", "x", "--kubeconfig=" + flagFile, "--context", "b"}, "https://flag-b", "quiesce", "logs"},
	} {
		root, kf := newRoot()
		cmd, rest, err := root.Find(tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		cfg, err := kf.restConfig()
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cmd.Name() != tc.cmd || cfg.Host != tc.server || kf.namespace != tc.ns {
			t.Errorf("%v: command %s, server %s, namespace %s; want %s, %s, %s", tc.args, cmd.Name(), cfg.Host, kf.namespace,
				tc.cmd, tc.server, tc.ns)
		}
	}

	root, kf := newRoot()
	cmd, rest, _ := root.Find([]string{"backup", "get", "--context", "nope"})
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	if _, err := kf.restConfig(); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an unknown context must be an error naming it: %v", err)
	}
}

// The daemons keep their own connection flags and defaults.
func TestDaemonKubeFlags(t *testing.T) {
	root, kf := newRoot()
	cmd, rest, err := root.Find([]string{"exporter", "-n", "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("namespace").Value.String(); got != "ops" || kf.namespace != "quiesce" {
		t.Errorf("exporter -n: its flag %q, the root's %q; want ops, quiesce", got, kf.namespace)
	}
}

func TestPluginNames(t *testing.T) {
	for _, tc := range []struct {
		argv0, display string
		args, want     []string
	}{
		{"/usr/local/bin/quiesce", "", []string{"backup", "get"}, []string{"backup", "get"}},
		{"/usr/local/bin/kubectl-quiesce", "kubectl quiesce", []string{"backup", "get"}, []string{"backup", "get"}},
		{"kubectl_complete-quiesce", "kubectl quiesce", []string{"backup", "des"}, []string{"__complete", "backup", "des"}},
	} {
		root := newRootCommand()
		got := asPlugin(root, tc.argv0, tc.args)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") || root.DisplayName() != orDefault(tc.display, "quiesce") {
			t.Errorf("%s: args %v, display name %q; want %v, %q", tc.argv0, got, root.DisplayName(), tc.want, tc.display)
		}
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Completion scripts for bash and zsh, and completion of the commands.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_quiesce", "zsh": "#compdef quiesce"} {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"completion", shell})
		if err := root.Execute(); err != nil || !strings.Contains(out.String(), want) {
			t.Errorf("completion %s: %v, script lacks %q", shell, err, want)
		}
	}
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(asPlugin(root, "kubectl_complete-quiesce", []string{"backup", "de"}))
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "describe") {
		t.Errorf("kubectl_complete-quiesce backup de: %v\n%s", err, out.String())
	}
}
