package main

import "github.com/spf13/cobra"

// newHooksCommand groups the hook commands: "lint" checks manifests
// offline; "test" (added next to it) runs a pod's hooks on the node.
func newHooksCommand() *cobra.Command {
	hooks := &cobra.Command{
		Use:   "hooks",
		Short: "Check and try pod backup hooks (Velero-compatible annotations and specs)",
	}
	hooks.AddCommand(newHooksLintCommand())
	hooks.AddCommand(newHooksTestCommand())
	return hooks
}
