package main

import (
	"errors"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/coordinator"
	"github.com/quiesce-dev/quiesce/internal/metrics"
	"github.com/quiesce-dev/quiesce/internal/runjob"
)

func newExporterCommand() *cobra.Command {
	var (
		kf                    kubeFlags
		metricsAddr, logLevel string
		dispatch              bool
	)
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve Prometheus metrics of the Backups and Restores (by phase, last success per schedule)",
		Long: `The coordinator runs as a short Job that nothing can scrape. The exporter (a small
Deployment in the chart) reads the Backup and Restore objects at scrape time and
serves quiesce_backups{phase}, quiesce_last_successful_backup_timestamp_seconds{schedule},
quiesce_last_backup_duration_seconds{schedule}, quiesce_restores{phase},
quiesce_restore_last_completion_timestamp_seconds{phase} and quiesce_restore_hooks_failed.

Being the one long-running quiesce process besides the agents, it also
starts the Job of a Backup or Restore applied with kubectl (as Velero users
do), which would otherwise stay New: see --dispatch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			c, err := kf.client()
			if err != nil {
				return err
			}
			reg := metrics.NewRegistry()
			reg.MustRegister(coordinator.NewExporter(c, kf.namespace, log))
			srv := &http.Server{Addr: metricsAddr, Handler: metrics.Handler(reg), ReadHeaderTimeout: 5 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); _ = srv.Close() }()
			if dispatch {
				d := &runjob.Dispatcher{Client: c, Namespace: kf.namespace, Log: log.Named("dispatcher")}
				go d.Run(ctx)
			}
			log.Info("exporter serving metrics", zap.String("addr", metricsAddr), zap.String("namespace", kf.namespace))
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	kf.add(cmd.Flags())
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", ":9465", "Prometheus metrics listen address")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().BoolVar(&dispatch, "dispatch", true, "start the Job of Backups and Restores created without the CLI (kubectl apply), once 20s old and still New; end Failed those whose Job failed for good")
	return cmd
}
