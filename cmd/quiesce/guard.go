package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/agent"
	"github.com/quiesce-dev/quiesce/agent/journal"
)

func newGuardCommand() *cobra.Command {
	var (
		nf       nodeFlags
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "guard",
		Short: "Thaw what a dead agent left frozen (the chart runs it next to the agent)",
		Long: `Watches the node journal and, whenever no agent process holds the node lock
(the agent crashed, crash-loops in the kubelet's back-off, or has not started
yet), thaws every pod the journal records as frozen: paused containers resumed,
frozen filesystems thawed, hook commands the dead agent left killed, post-hooks
run. The result stays in the journal for the agent to report.

It needs the container runtime and the node's state directory, not the API
server nor the repository: the thaw of a frozen pod must not wait on either.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := nf.logger()
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			log = log.With(zap.String("component", "guard"))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			j, err := journal.Open(filepath.Join(nf.stateDir(), "journal"))
			if err != nil {
				return err
			}
			rt, err := nf.runtime(log)
			if err != nil {
				return err
			}
			defer rt.Close()
			g := &agent.Guard{Node: nf.node, Journal: j, LockPath: filepath.Join(nf.stateDir(), agent.NodeLockFile), Interval: interval, Log: log,
				Hooks: &agent.CRIHooks{Runtime: rt, Log: log, FS: nf.fs()}}
			log.Info("thaw guard started", zap.String("stateDir", nf.stateDir()), zap.Duration("interval", interval))
			return g.Run(ctx)
		},
	}
	f := cmd.Flags()
	nf.add(f)
	f.DurationVar(&interval, "interval", 500*time.Millisecond, "how often to look for an agent-less frozen pod")
	return cmd
}
