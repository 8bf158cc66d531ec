package main

import (
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCommand() *cobra.Command {
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
	root.AddCommand(newBackupCommand())
	root.AddCommand(newHooksCommand())
	root.AddCommand(newFsCommand())
	root.AddCommand(newRepoCommand())
	root.AddCommand(newRestoreWaitCommand())
	root.AddCommand(newRestoreCommand())
	return root
}
