package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/agent"
	"github.com/quiesce-dev/quiesce/agent/fsfreeze"
	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/nodelock"
	"github.com/quiesce-dev/quiesce/cri/containerd"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/kwait"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// maintenanceReadInterval is how often the agent reads the repository's
// maintenance record for its metric: an alert on overdue maintenance
// counts in hours.
const maintenanceReadInterval = 10 * time.Minute

func newAgentCommand() *cobra.Command {
	var (
		kf           kubeFlags
		rf           repoFlags
		nf           nodeFlags
		metricsAddr  string
		captureSlots int
		uploadSlots  int
		blockMinMB   int64
		initRepo     bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent (what the chart's DaemonSet runs)",
		Long: `Backs up the pods that NodeBackups assign to this node: pre-hooks through the
node's container runtime, capture of the volumes from the kubelet's directories,
post-hooks, then the upload to the repository. Pods found frozen in the node
journal (an earlier agent process died) are thawed first.

Restores the pods that NodeRestores assign to this node: each volume is filled
from its snapshot while the pod's wait init container holds it, the pod is
released, and its post-restore hooks run through the container runtime once
their containers run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := nf.logger()
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			// SIGTERM ends new work; pods already frozen are still thawed
			// before the process exits (Run waits for them).
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			c, err := kf.client()
			if err != nil {
				return err
			}
			node, stateDir := nf.node, nf.stateDir()
			j, err := journal.Open(filepath.Join(stateDir, "journal"))
			if err != nil {
				return err
			}
			ledger, err := journal.OpenRestoreLedger(filepath.Join(stateDir, "restore-ledger"))
			if err != nil {
				return err
			}
			rt, err := nf.runtime(log)
			if err != nil {
				return err
			}
			defer rt.Close()
			if rf.cacheDir == "" {
				rf.cacheDir = filepath.Join(stateDir, "cache")
			}
			wctx, stopWatch := context.WithCancel(ctx)
			eng, err := agentRepository(ctx, &rf, initRepo, agent.NodeBackupsSeen(wctx, c, kf.namespace, node, log),
				&kwait.Backoff{Min: time.Second, Max: 30 * time.Second}, log)
			stopWatch()
			if err != nil {
				return err
			}
			defer eng.Close(context.WithoutCancel(ctx))
			eng.BlockLayoutMin = blockMinMB << 20 // 0: the default; negative: never

			events, stopEvents, err := kf.eventRecorder("quiesce-agent", node)
			if err != nil {
				return err
			}
			defer stopEvents()
			reg := metrics.NewRegistry()
			m := metrics.NewAgent(reg)
			go agent.ReportMaintenance(ctx, eng, m, maintenanceReadInterval, log)
			if metricsAddr != "" {
				srv := &http.Server{Addr: metricsAddr, Handler: metrics.Handler(reg), ReadHeaderTimeout: 5 * time.Second}
				go func() {
					if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
						log.Error("metrics server", zap.Error(err))
					}
				}()
				defer srv.Close()
			}
			pacer := agent.NewUploadPacer(uploadSlots)
			ag := &agent.Agent{
				Node: node, Namespace: kf.namespace, Client: c, Journal: j,
				Hooks: &agent.CRIHooks{Runtime: rt, Log: log,
					FS: nf.fs()},
				Volumes:      &agent.FSVolumes{Engine: eng, StagingRoot: filepath.Join(stateDir, "staging"), Pacer: pacer, Log: log},
				Paths:        &agent.KubeletPaths{Client: c, Root: nf.kubeletRoot},
				PodOnNode:    agent.KubeletHasPod(nf.kubeletRoot),
				CaptureSlots: captureSlots, Pacer: pacer, Log: log, Metrics: m, Events: events, Logs: eng,
				Restore: &agent.Restorer{Node: node, Namespace: kf.namespace, Client: c, Volumes: eng, Runtime: rt, Ledger: ledger,
					KubeletRoot: nf.kubeletRoot, Log: log, Metrics: m, Events: events, Logs: eng},
			}
			// Last, so that a slow start (the repository unreachable, the
			// API server down) leaves the thaw guard free to thaw.
			lock, err := nodelock.Acquire(ctx, filepath.Join(stateDir, agent.NodeLockFile), func() {
				log.Info("waiting for the node lock: the thaw guard is thawing pods an earlier agent process left frozen")
			})
			if err != nil {
				return err
			}
			defer lock.Release()
			log.Info("agent started", zap.String("runtime", nf.endpoint), zap.String("stateDir", stateDir))
			m.Ready.Set(1)
			defer m.Ready.Set(0)
			return ag.Run(ctx)
		},
	}
	cmd.AddCommand(newGuardCommand())
	f := cmd.Flags()
	kf.add(f)
	rf.add(f)
	_ = f.Set("namespace", envOr("POD_NAMESPACE", "quiesce"))
	_ = f.Set("repo", os.Getenv("QUIESCE_REPO_PATH"))
	nf.add(f)
	f.IntVar(&captureSlots, "capture-slots", 1, "pods captured (and so frozen) at once")
	f.Int64Var(&blockMinMB, "block-layout-min-mb", 0, "store files of at least this many MiB in 16 KiB blocks, so that pages rewritten in place cost only their blocks in incrementals (0: 512, -1: never)")
	f.IntVar(&uploadSlots, "upload-slots", 2, "staged uploads run at once; they also wait while a pod of the node is frozen")
	f.StringVar(&metricsAddr, "metrics-addr", ":9464", "Prometheus metrics listen address (empty: off)")
	f.BoolVar(&initRepo, "init-repo", false, "create the repository if the storage holds none (default: wait for the coordinator to create it; creators racing on object storage corrupt it)")
	return cmd
}

// nodeFlags are what the agent and its thaw guard both need of the node.
type nodeFlags struct {
	node, endpoint, fifoDir string
	kubeletRoot, stateRoot  string
	logLevel                string
}

func (nf *nodeFlags) add(f *pflag.FlagSet) {
	f.StringVar(&nf.node, "node", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
	f.StringVar(&nf.endpoint, "runtime-endpoint", "unix:///run/containerd/containerd.sock", "containerd socket")
	f.StringVar(&nf.fifoDir, "fifo-dir", "/run/containerd/fifo", "directory of exec stdio FIFOs; the same path on the host and in the agent")
	f.StringVar(&nf.kubeletRoot, "kubelet-root", "/var/lib/kubelet", "the kubelet's root directory")
	f.StringVar(&nf.stateRoot, "state-dir", "/var/lib/quiesce/state", "journal, staging and cache directory on the node")
	f.StringVar(&nf.logLevel, "log-level", "info", "debug, info, warn or error")
}

// logger is the process's logger, with the node; it refuses an empty node.
func (nf *nodeFlags) logger() (*zap.Logger, error) {
	if nf.node == "" {
		return nil, errors.New("--node is empty: set it (the chart passes NODE_NAME from the downward API)")
	}
	log, err := newLogger(nf.logLevel)
	if err != nil {
		return nil, err
	}
	return log.With(zap.String("node", nf.node)), nil
}

// stateDir is this node's own subdirectory: a state directory shared by
// mistake (or by design, on one machine running several nodes) never mixes
// two agents' journals or staging trees.
func (nf *nodeFlags) stateDir() string { return filepath.Join(nf.stateRoot, nf.node) }

func (nf *nodeFlags) runtime(log *zap.Logger) (*containerd.Runtime, error) {
	rt, err := containerd.New(containerd.Options{Endpoint: nf.endpoint, FIFODir: nf.fifoDir, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("container runtime at %s: %w", nf.endpoint, err)
	}
	return rt, nil
}

// fs freezes pod volumes' filesystems, never the kubelet's (its pods
// directory is what the agent mounts), the node's (hostPID) or the agent's
// own.
func (nf *nodeFlags) fs() fsfreeze.FS {
	return fsfreeze.FS{Guard: []string{nf.kubeletRoot, filepath.Join(nf.kubeletRoot, "pods"), "/proc/1/root", nf.stateDir()}}
}

// agentRepository opens the repository for an agent. Agents do not create
// it (unless told to): several processes creating one on an object store
// each write its format blob with keys of their own, and what the others
// wrote can no longer be read (seen with two agents and a coordinator on an
// empty bucket). The coordinator creates it before it writes the first
// NodeBackup; until then the agent waits, and looks again at once when a
// NodeBackup for its node appears (work is a sign the repository now
// exists), not only at the end of a back-off grown to 30s: agents waking
// seconds apart on a fresh install left a consistency group's first member
// frozen past its deadline while the next one's agent slept.
func agentRepository(ctx context.Context, rf *repoFlags, create bool, work <-chan struct{}, b *kwait.Backoff, log *zap.Logger) (*fsbackup.Engine, error) {
	for waited := false; ; waited = true {
		e, err := openRepository(ctx, rf, create, log)
		if err == nil || !errors.Is(err, fsbackup.ErrNotInitialized) {
			return e, err
		}
		in := b.Next()
		if !waited {
			log.Info("repository not initialized: waiting for the first backup's coordinator (or quiesce repo init) to create it", zap.Duration("retryIn", in))
		}
		t := time.NewTimer(in)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-work:
			t.Stop()
		case <-t.C:
		}
	}
}

// openRepository opens the repository, creating it first when allowed and
// missing; agents racing to create it all end up opening the same one.
func openRepository(ctx context.Context, rf *repoFlags, create bool, log *zap.Logger) (*fsbackup.Engine, error) {
	cfg, err := rf.config()
	if err != nil {
		return nil, err
	}
	e, err := fsbackup.Open(ctx, cfg)
	if errors.Is(err, fsbackup.ErrInvalidPassword) {
		return nil, fmt.Errorf("%w: the password given (--password-file or QUIESCE_REPO_PASSWORD; with the chart, its repository Secret's key repository-password) is not the one the repository was created with: set that one", err)
	}
	if !create || !errors.Is(err, fsbackup.ErrNotInitialized) {
		return e, err
	}
	log.Info("repository not initialized: creating it")
	e, err = fsbackup.Create(ctx, cfg, fsbackup.Format{})
	if errors.Is(err, fsbackup.ErrAlreadyInitialized) {
		return fsbackup.Open(ctx, cfg)
	}
	return e, err
}
