package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

const (
	benchNS   = "vel-bench"
	apiDownNS = "vel-apidown"
)

// backupRun is one backup by one tool, as measured.
type backupRun struct {
	Tool, Kind, Backup, Phase string
	Wall                      time.Duration
	// StoredBytes is the tool's bucket after the backup; AddedBytes what
	// this backup added to it.
	StoredBytes, AddedBytes int64
	// APIRequests counts the API server's requests during the backup;
	// APIRequestsNet subtracts the idle rate measured before the runs
	// (kubelets, controllers, both tools' idle loops).
	APIRequests, APIRequestsNet float64
	AgentPeakRSS                int64 // the largest node agent's, bytes
	Freeze                      map[string]time.Duration
	Hooks                       map[string]hookTiming
	// Unthawed lists pods whose markers are missing after the backup.
	Unthawed []string
}

// benchWorkload creates the measured pods: one with a large volume on
// node-a and small ones spread over both nodes, and fills their data.
func (e *env) benchWorkload(ctx context.Context) ([]workPod, error) {
	if err := e.createNamespace(ctx, benchNS); err != nil {
		return nil, err
	}
	pods := []*corev1.Pod{benchPod("big-0", cluster.Nodes[0], "")}
	sizes := []int{e.o.bigMB}
	for i := range e.o.small {
		pods = append(pods, benchPod(fmt.Sprintf("small-%02d", i), cluster.Nodes[i%len(cluster.Nodes)], ""))
		sizes = append(sizes, e.o.smallMB)
	}
	for _, p := range pods {
		p.Namespace = benchNS
	}
	wp, err := e.createPods(ctx, benchNS, pods, sizes)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for _, p := range wp {
		if err := fill(p, 0, -1); err != nil {
			return nil, err
		}
	}
	e.logf("filled %d pods (%d MB) in %s", len(wp), e.o.bigMB+e.o.small*e.o.smallMB, time.Since(start).Round(100*time.Millisecond))
	return wp, nil
}

// idleRate is the API server's requests per second with both tools
// installed and idle.
func (e *env) idleRate(ctx context.Context, d time.Duration) (float64, error) {
	r0, err := e.apiRequests(ctx)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	r1, err := e.apiRequests(ctx)
	if err != nil {
		return 0, err
	}
	return (r1 - r0) / time.Since(t0).Seconds(), nil
}

func bucketOf(tool string) string {
	if tool == toolVelero {
		return veleroBucket
	}
	return quiesceBucket
}

// backupOnce runs one backup of the bench namespace by tool and measures it.
func (e *env) backupOnce(ctx context.Context, tool, kind, name string, pods []workPod, idle float64) (backupRun, error) {
	r := backupRun{Tool: tool, Kind: kind, Backup: name, Freeze: map[string]time.Duration{}}
	if err := e.lease(); err != nil {
		return r, err
	}
	for _, p := range pods {
		p.clearMarks()
	}
	procs, err := e.agents(ctx, tool)
	if err != nil {
		return r, err
	}
	for _, a := range procs {
		if err := resetPeak(a); err != nil {
			return r, fmt.Errorf("%s agent on %s: reset peak RSS: %w", tool, a.Node, err)
		}
	}
	before, err := e.s3.BucketBytes(ctx, bucketOf(tool))
	if err != nil {
		return r, err
	}
	req0, err := e.apiRequests(ctx)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := e.submit(ctx, tool, name, backupManifest(name, benchNS)); err != nil {
		return r, err
	}
	phase, _, err := e.waitFinal(ctx, tool, "backups", name, e.o.timeout)
	r.Wall, r.Phase = time.Since(t0), phase
	if err != nil {
		return r, err
	}
	req1, err := e.apiRequests(ctx)
	if err != nil {
		return r, err
	}
	r.APIRequests = req1 - req0
	r.APIRequestsNet = r.APIRequests - idle*r.Wall.Seconds()
	for _, a := range procs {
		if rss, err := peakRSS(a); err == nil {
			r.AgentPeakRSS = max(r.AgentPeakRSS, rss)
		}
	}
	if r.StoredBytes, err = e.s3.BucketBytes(ctx, bucketOf(tool)); err != nil {
		return r, err
	}
	r.AddedBytes = r.StoredBytes - before
	for _, p := range pods {
		frozen, thawed := p.marks()
		if frozen.IsZero() || thawed.IsZero() {
			r.Unthawed = append(r.Unthawed, p.Name)
			continue
		}
		r.Freeze[p.Name] = thawed.Sub(frozen)
	}
	if tool == toolVelero {
		r.Hooks, err = e.veleroHooks(ctx, name, t0, pods)
	} else {
		r.Hooks, _, err = e.quiesceHooks(ctx, name)
	}
	if err != nil {
		return r, err
	}
	e.logf("%s %s backup %s: %s in %s, %s added, %.0f API requests (%.0f net), agent peak %s, big-0 frozen %s",
		tool, kind, name, r.Phase, roundDur(r.Wall), mb(r.AddedBytes), r.APIRequests, r.APIRequestsNet,
		mb(r.AgentPeakRSS), roundDur(r.Freeze["big-0"]))
	return r, nil
}

// apiDownResult: with the API server stopped during a pod's pre-hook, was
// the pod thawed, and when.
type apiDownResult struct {
	Tool, Phase string
	Stopped     time.Duration // how long the API server was stopped
	// ThawedWhileStopped: thawed-at was written before the API server was
	// resumed.
	ThawedWhileStopped bool
	// Freeze is thawed-at minus frozen-at (0: never thawed).
	Freeze time.Duration
	Err    string
}

// apiDown backs up one pod whose pre-hook stamps frozen-at and then takes
// 3 s; once the stamp is there, the kube-apiserver is stopped (SIGSTOP)
// for e.o.apiDown, then resumed.
func (e *env) apiDown(ctx context.Context, tool string, pod workPod, name string) (apiDownResult, error) {
	res := apiDownResult{Tool: tool}
	if err := e.lease(); err != nil {
		return res, err
	}
	pod.clearMarks()
	pidText, err := os.ReadFile(filepath.Join(e.c.State, "run/kube-apiserver.pid"))
	if err != nil {
		return res, fmt.Errorf("kube-apiserver pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		return res, fmt.Errorf("kube-apiserver pid %q: %w", pidText, err)
	}
	if err := e.submit(ctx, tool, name, backupManifest(name, apiDownNS)); err != nil {
		return res, err
	}
	err = cluster.WaitFor(ctx, 3*time.Minute, pod.Name+" frozen-at", func(context.Context) (bool, string, error) {
		f, _ := pod.marks()
		return !f.IsZero(), "", nil
	})
	if err != nil {
		return res, err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return res, fmt.Errorf("stop kube-apiserver: %w", err)
	}
	stopped := time.Now()
	resume := func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	defer resume() // whatever happens, the cluster gets its API server back
	for time.Since(stopped) < e.o.apiDown {
		if _, t := pod.marks(); !t.IsZero() {
			res.ThawedWhileStopped = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, t := pod.marks(); !t.IsZero() {
		res.ThawedWhileStopped = true
	}
	resume()
	res.Stopped = time.Since(stopped)
	phase, _, err := e.waitFinal(ctx, tool, "backups", name, 10*time.Minute)
	res.Phase = phase
	if err != nil {
		res.Err = err.Error()
	}
	if f, t := pod.marks(); !t.IsZero() {
		res.Freeze = t.Sub(f)
	}
	e.logf("%s with the API server stopped %s: backup %s, thawed while stopped: %v, frozen %s",
		tool, roundDur(res.Stopped), res.Phase, res.ThawedWhileStopped, roundDur(res.Freeze))
	return res, nil
}

// changeData rewrites one chunk (10%) of every pod's data volume.
func changeData(pods []workPod, gen uint64) error {
	for _, p := range pods {
		if err := fill(p, gen, int(gen)%chunks); err != nil {
			return err
		}
	}
	return nil
}
