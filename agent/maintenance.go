package agent

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// RepoStatus reads the repository's record of itself (fsbackup.Engine).
type RepoStatus interface {
	Status(ctx context.Context) (fsbackup.Status, error)
}

// ReportMaintenance keeps m.LastMaintenance at the repository's last
// successful maintenance, read now and then every interval until ctx ends.
// Maintenance runs elsewhere (quiesce repo maintenance, a short process
// nothing scrapes), so the long-running agents, which have the repository
// open, are where Prometheus sees it. A failed read keeps the last value.
func ReportMaintenance(ctx context.Context, repo RepoStatus, m *metrics.Agent, interval time.Duration, log *zap.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if st, err := repo.Status(ctx); err != nil {
			log.Warn("read the repository's maintenance record", zap.Error(err))
		} else if !st.LastMaintenance.IsZero() {
			m.LastMaintenance.Set(float64(st.LastMaintenance.Unix()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
