package main

import (
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCommand() *cobra.Command {
	root, _ := newRoot()
	return root
}

// newRoot returns the command tree and the connection flags that the user
// commands share. They are the root's persistent flags, so that, as with
// kubectl, they may come before the command (`kubectl quiesce -n backups
// backup get`); the daemons (agent, coordinator, exporter) define their own,
// with their defaults, which take precedence.
func newRoot() (*cobra.Command, *kubeFlags) {
	kf := &kubeFlags{}
	root := &cobra.Command{
		Use:           "quiesce",
		Short:         "Application-consistent backups of Kubernetes pod volumes",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCoordinatorCommand())
	root.AddCommand(newAgentCommand())
	root.AddCommand(newExporterCommand())
	kf.add(root.PersistentFlags())
	root.AddCommand(newBackupCommand(kf))
	root.AddCommand(newHooksCommand())
	root.AddCommand(newFsCommand())
	root.AddCommand(newRepoCommand())
	root.AddCommand(newRestoreWaitCommand())
	root.AddCommand(newRestoreCommand(kf))
	return root, kf
}
