package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// scriptedStatus answers each Status call with the next of its results.
type scriptedStatus struct {
	mu      sync.Mutex
	results []func() (fsbackup.Status, error)
}

func (s *scriptedStatus) Status(context.Context) (fsbackup.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.results) == 0 {
		return fsbackup.Status{}, errors.New("no more results")
	}
	r := s.results[0]
	s.results = s.results[1:]
	return r()
}

func TestReportMaintenance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first, second := time.Unix(1000, 0), time.Unix(5000, 0)
		repo := &scriptedStatus{results: []func() (fsbackup.Status, error){
			func() (fsbackup.Status, error) { return fsbackup.Status{}, nil }, // never ran: stays 0
			func() (fsbackup.Status, error) { return fsbackup.Status{LastMaintenance: first}, nil },
			func() (fsbackup.Status, error) { return fsbackup.Status{}, errors.New("storage unreachable") }, // keeps the last value
			func() (fsbackup.Status, error) { return fsbackup.Status{LastMaintenance: second}, nil },
		}}
		m := metrics.NewAgent(prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); ReportMaintenance(ctx, repo, m, time.Minute, zap.NewNop()) }()
		for i, want := range []float64{0, 1000, 1000, 5000} {
			synctest.Wait()
			if got := testutil.ToFloat64(m.LastMaintenance); got != want {
				t.Fatalf("read %d: gauge %v, want %v", i, got, want)
			}
			time.Sleep(time.Minute) // fake time: the next tick
		}
		cancel()
		<-done
	})
}
