package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/agent"
	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/cri/containerd"
)

func newGuardCommand() *cobra.Command {
	var (
		node, endpoint, fifoDir string
		kubeletRoot, stateDir   string
		logLevel                string
		interval                time.Duration
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
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			if node == "" {
				return errors.New("--node is empty: set it (the chart passes NODE_NAME from the downward API)")
			}
			log = log.With(zap.String("node", node), zap.String("component", "guard"))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stateDir = filepath.Join(stateDir, node) // as the agent's
			j, err := journal.Open(filepath.Join(stateDir, "journal"))
			if err != nil {
				return err
			}
			rt, err := containerd.New(containerd.Options{Endpoint: endpoint, FIFODir: fifoDir, Logger: log})
			if err != nil {
				return fmt.Errorf("container runtime at %s: %w", endpoint, err)
			}
			defer rt.Close()
			g := &agent.Guard{Node: node, Journal: j, LockPath: filepath.Join(stateDir, agent.NodeLockFile), Interval: interval, Log: log,
				Hooks: &agent.CRIHooks{Runtime: rt, Log: log, FS: nodeFS(kubeletRoot, stateDir)}}
			log.Info("thaw guard started", zap.String("stateDir", stateDir), zap.Duration("interval", interval))
			return g.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&node, "node", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
	f.StringVar(&endpoint, "runtime-endpoint", "unix:///run/containerd/containerd.sock", "containerd socket")
	f.StringVar(&fifoDir, "fifo-dir", "/run/containerd/fifo", "directory of exec stdio FIFOs; the same path on the host and in the agent")
	f.StringVar(&kubeletRoot, "kubelet-root", "/var/lib/kubelet", "the kubelet's root directory")
	f.StringVar(&stateDir, "state-dir", "/var/lib/quiesce/state", "the agent's state directory on the node")
	f.DurationVar(&interval, "interval", 500*time.Millisecond, "how often to look for an agent-less frozen pod")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
