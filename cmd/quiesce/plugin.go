package main

import (
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Names the binary answers to as a kubectl plugin: kubectl runs
// kubectl-quiesce for `kubectl quiesce ...`, and (kubectl 1.26 and later)
// kubectl_complete-quiesce for the shell completion of those commands.
const (
	pluginName         = "kubectl-quiesce"
	pluginCompleteName = "kubectl_complete-quiesce"
)

// asPlugin adapts root to the name the binary was run as (argv0): as a
// kubectl plugin its usage and help say `kubectl quiesce`, and as the
// plugin's completion helper it answers cobra's completion request with
// args. It returns the arguments to execute.
func asPlugin(root *cobra.Command, argv0 string, args []string) []string {
	name := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	switch name {
	case pluginName, pluginCompleteName:
		if root.Annotations == nil {
			root.Annotations = map[string]string{}
		}
		root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl quiesce"
	}
	if name == pluginCompleteName {
		return append([]string{cobra.ShellCompRequestCmd}, args...)
	}
	return args
}
