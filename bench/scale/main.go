// Command scale is quiesce's control-plane scale benchmark (`make
// bench-scale`). Per case it starts a fresh etcd and kube-apiserver on
// loopback with the chart's CRDs, writes a simulated cluster (Node objects,
// pods bound and set Running by the harness), runs the real agent loop per
// simulated node (fake runtime and volumes taking realistic time, failing
// at a set rate) and the real coordinator as a child process (`quiesce
// coordinator`, as the chart's Job runs it), and measures what the API
// server saw. It prints a markdown table for docs/benchmarks.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/bench/simcluster"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/testenv"
	"github.com/quiesce-dev/quiesce/resources"
)

// scaleCase is one measured scenario.
type scaleCase struct {
	name  string
	spec  simcluster.Spec
	slots int
	// timeout is the coordinator's --timeout (the backup's deadline).
	timeout time.Duration
	// overlap starts a second Backup once the first has this share of its
	// pods final (a Schedule firing while the previous backup runs).
	overlap float64
}

// result is what one case measured.
type result struct {
	c                    scaleCase
	wall                 time.Duration
	workBound            time.Duration // the longest node's simulated work
	phases               []string
	counts               api.PodCounts
	causes               map[api.FailureCause]int // the failed pods by cause
	requests             Counters
	pods                 int
	largest              int
	largestName          string
	coordRSS             int64 // KiB
	harnessHeap          uint64
	agents               int
	freezeMed, freezeMax time.Duration
	peakCaptures         int64
	problems             []string
}

func main() {
	work := flag.String("work", "/tmp/scale-bench", "work directory (etcd data, logs, repositories)")
	quiesce := flag.String("quiesce", "bin/quiesce", "quiesce binary (the coordinator)")
	out := flag.String("out", "", "also write the markdown report here")
	only := flag.String("case", "", "run only the cases whose name contains one of these (comma-separated)")
	failRate := flag.Float64("fail-rate", 0.02, "chance each simulated hook, capture and upload fails")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // the bench reads the API, not controller-runtime's logs

	cases := []scaleCase{
		{name: "2000 pods / 200 nodes", spec: simcluster.Spec{Nodes: 200, Pods: 2000, Seed: 1}, slots: 1, timeout: 10 * time.Minute},
		{name: "500 pods / 1 node", spec: simcluster.Spec{Nodes: 1, Pods: 500, Seed: 2}, slots: 4, timeout: 10 * time.Minute},
		{name: "schedule fires while the previous backup runs (2 x 500 pods / 50 nodes)", spec: simcluster.Spec{Nodes: 50, Pods: 500, Seed: 3},
			slots: 1, timeout: 10 * time.Minute, overlap: 0.3},
		{name: "200 nodes, 10 never answer (1000 pods, deadline 90s)", spec: simcluster.Spec{Nodes: 200, Pods: 1000, Silent: 10, Seed: 4},
			slots: 1, timeout: 90 * time.Second},
	}
	// A signal ends the case, whose deferred cleanup stops its etcd and
	// API server (they run in process groups of their own).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var results []result
	start := time.Now()
	for _, c := range cases {
		if *only != "" && !slices.ContainsFunc(strings.Split(*only, ","), func(o string) bool { return strings.Contains(c.name, o) }) {
			continue
		}
		log.Printf("case %q", c.name)
		r, err := runCase(ctx, c, *work, *quiesce, *failRate)
		if err != nil {
			log.Fatalf("case %q: %v", c.name, err)
		}
		results = append(results, r)
		log.Printf("case %q: %s in %s", c.name, strings.Join(r.phases, ", "), r.wall.Round(time.Second))
	}
	var buf bytes.Buffer
	report(&buf, results, *failRate, time.Since(start))
	os.Stdout.Write(buf.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	for _, r := range results {
		if len(r.problems) > 0 {
			log.Fatalf("case %q: %d correctness problems, first: %s", r.c.name, len(r.problems), r.problems[0])
		}
	}
}

func runCase(ctx context.Context, c scaleCase, work, quiesce string, failRate float64) (result, error) {
	res := result{c: c}
	dir := filepath.Join(work, strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, c.name))
	if err := os.RemoveAll(dir); err != nil {
		return res, err
	}
	k, err := testenv.StartKubeAPI(ctx, testenv.KubeAPIOptions{Dir: filepath.Join(dir, "kube"), EtcdPort: 23790, EtcdPeerPort: 23800, APIPort: 16443})
	if err != nil {
		return res, err
	}
	defer k.Stop()
	s := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return res, err
	}
	if err := api.AddToScheme(s); err != nil {
		return res, err
	}
	cl, err := client.NewWithWatch(k.Config, client.Options{Scheme: s})
	if err != nil {
		return res, err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return res, err
	}
	crds, _ := filepath.Glob(filepath.Join(root, "charts", "quiesce", "crds", "*.yaml"))
	if err := testenv.ApplyManifests(ctx, cl, crds...); err != nil {
		return res, err
	}
	l := simcluster.Plan(c.spec)
	t0 := time.Now()
	if err := simcluster.Populate(ctx, cl, l); err != nil {
		return res, err
	}
	log.Printf("  %d nodes, %d pods written in %s", len(l.Nodes), len(l.Pods), time.Since(t0).Round(time.Second))

	trace := simcluster.NewTrace()
	timing := simcluster.Realistic
	timing.FailRate = failRate
	agentLog, err := zap.NewProduction()
	if err != nil {
		return res, err
	}
	agentLog = agentLog.WithOptions(zap.IncreaseLevel(zap.ErrorLevel))
	agents, err := simcluster.StartAgents(ctx, l, simcluster.AgentOptions{Config: k.Config, Scheme: s, Timing: timing,
		CaptureSlots: c.slots, StateDir: filepath.Join(dir, "agents"), Log: agentLog, Trace: trace})
	if err != nil {
		return res, err
	}
	res.agents = len(agents.Nodes)
	var peakHeap atomic.Uint64
	stopSampling := sampleHeap(&peakHeap)
	kubeconfig, err := k.WriteKubeconfig(dir, simcluster.Namespace)
	if err != nil {
		return res, err
	}
	wanted := map[string]bool{"backups": true, "nodebackups": true, "pods": true, "nodes": true, "events": true, "leases": true}
	before, err := scrape(ctx, k, wanted)
	if err != nil {
		return res, err
	}

	names := []string{"scale-1"}
	if c.overlap > 0 {
		names = append(names, "scale-2")
	}
	begin := time.Now()
	done := make(chan coordRun, len(names))
	startBackup := func(name string) error {
		b := simcluster.NewBackup(name, l, metav1.Duration{Duration: 5 * time.Minute})
		if err := cl.Create(ctx, b); err != nil {
			return err
		}
		go func() { done <- runCoordinator(ctx, quiesce, kubeconfig, dir, name, c.timeout) }()
		return nil
	}
	if err := startBackup(names[0]); err != nil {
		return res, err
	}
	if c.overlap > 0 {
		if err := waitShareFinal(ctx, cl, names[0], c.overlap); err != nil {
			return res, err
		}
		if err := startBackup(names[1]); err != nil {
			return res, err
		}
	}
	var runs []coordRun
	for range names {
		r := <-done
		if r.err != nil {
			return res, fmt.Errorf("coordinator of %s: %w (log %s)", r.name, r.err, r.log)
		}
		runs = append(runs, r)
		res.coordRSS = max(res.coordRSS, r.maxRSS)
	}
	res.wall = time.Since(begin)
	if err := agents.Stop(); err != nil {
		log.Printf("  agents: %v", err)
	}
	stopSampling()
	res.harnessHeap = peakHeap.Load()
	after, err := scrape(ctx, k, wanted)
	if err != nil {
		return res, err
	}
	res.requests = delta(before, after)

	for _, n := range agents.Nodes {
		bound := time.Duration(n.FreezeWork.Load())/time.Duration(c.slots) + time.Duration(n.MaxUpload.Load())
		res.workBound = max(res.workBound, bound)
		res.peakCaptures = max(res.peakCaptures, n.PeakCaptures.Load())
	}
	var freezes []time.Duration
	for _, name := range names {
		var b api.Backup
		if err := cl.Get(ctx, client.ObjectKey{Namespace: simcluster.Namespace, Name: name}, &b); err != nil {
			return res, err
		}
		res.phases = append(res.phases, string(b.Status.Phase))
		addCounts(&res.counts, b.Status.PodCounts)
		res.pods += b.Status.PodCounts.Total
		size, err := jsonSize(&b)
		if err != nil {
			return res, err
		}
		if size > res.largest {
			res.largest, res.largestName = size, "Backup "+name
		}
		var nbs api.NodeBackupList
		if err := cl.List(ctx, &nbs, client.InNamespace(simcluster.Namespace), client.MatchingLabels{api.LabelBackup: name}); err != nil {
			return res, err
		}
		for i := range nbs.Items {
			size, err := jsonSize(&nbs.Items[i])
			if err != nil {
				return res, err
			}
			if size > res.largest {
				res.largest, res.largestName = size, fmt.Sprintf("NodeBackup (%d pods)", len(nbs.Items[i].Spec.Pods)+len(nbs.Items[i].Spec.Results))
			}
		}
		// The report as stored in the repository: the pods the coordinator
		// failed itself (the deadline) are in it, not in the NodeBackups.
		report, err := storedReport(ctx, dir, name)
		if err != nil {
			return res, err
		}
		for _, p := range report {
			if p.ControlOverhead != nil && p.Phase == api.PodCompleted {
				freezes = append(freezes, p.ControlOverhead.Duration)
			}
			if p.Phase == api.PodFailed {
				if res.causes == nil {
					res.causes = map[api.FailureCause]int{}
				}
				res.causes[p.Cause]++
			}
		}
		for _, p := range simcluster.Check(l, name, report, trace) {
			res.problems = append(res.problems, name+": "+p)
		}
	}
	if res.peakCaptures > int64(c.slots) {
		res.problems = append(res.problems, fmt.Sprintf("%d captures of ungrouped pods at once on a node with %d capture slots", res.peakCaptures, c.slots))
	}
	res.freezeMed, res.freezeMax = medianMax(freezes)
	_ = runs
	return res, nil
}

func addCounts(sum *api.PodCounts, c api.PodCounts) {
	sum.Total += c.Total
	sum.Completed += c.Completed
	sum.Failed += c.Failed
	sum.Skipped += c.Skipped
	sum.InProgress += c.InProgress
}

type coordRun struct {
	name   string
	maxRSS int64 // KiB
	log    string
	err    error
}

// runCoordinator runs `quiesce coordinator --backup name` as the chart's
// Job does, with a filesystem repository for the report and the objects.
func runCoordinator(ctx context.Context, bin, kubeconfig, dir, name string, timeout time.Duration) coordRun {
	logPath := filepath.Join(dir, "coordinator-"+name+".log")
	r := coordRun{name: name, log: logPath}
	f, err := os.Create(logPath)
	if err != nil {
		r.err = err
		return r
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, bin, "coordinator", "--backup", name, "--kubeconfig", kubeconfig, "-n", simcluster.Namespace,
		"--agent-selector", "app=quiesce-agent", "--timeout", timeout.String(),
		"--repo", filepath.Join(dir, "repo"), "--cache-dir", filepath.Join(dir, "cache-"+name))
	cmd.Env = append(os.Environ(), "QUIESCE_REPO_PASSWORD=scale-bench")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			r.err = err
			return r
		}
		// A Failed backup exits non-zero; the case reads its phase.
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss
	}
	return r
}

// waitShareFinal waits until share of the Backup's pods are final.
func waitShareFinal(ctx context.Context, c client.Client, name string, share float64) error {
	for {
		var b api.Backup
		if err := c.Get(ctx, client.ObjectKey{Namespace: simcluster.Namespace, Name: name}, &b); err != nil {
			return err
		}
		pc := b.Status.PodCounts
		if b.Status.Phase.Final() || pc.Total > 0 && float64(pc.Completed+pc.Failed+pc.Skipped) >= share*float64(pc.Total) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func scrape(ctx context.Context, k *testenv.KubeAPI, resources map[string]bool) (Counters, error) {
	hc, err := rest.HTTPClientFor(k.Config)
	if err != nil {
		return Counters{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL+"/metrics", nil)
	if err != nil {
		return Counters{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Counters{}, fmt.Errorf("scrape the API server's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return Counters{}, fmt.Errorf("scrape the API server's metrics: %d %s", resp.StatusCode, body)
	}
	return parseMetrics(resp.Body, resources)
}

func jsonSize(o any) (int, error) {
	raw, err := json.Marshal(o)
	return len(raw), err
}

// sampleHeap records the harness's peak heap in use (the agents run in
// this process) until the returned stop.
func sampleHeap(peak *atomic.Uint64) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return func() { close(stop); <-done }
}

// storedReport reads the per-pod report of backup from the case's
// repository.
func storedReport(ctx context.Context, dir, backup string) ([]api.PodResult, error) {
	e, err := fsbackup.Open(ctx, fsbackup.Config{Path: filepath.Join(dir, "repo"), Password: "scale-bench",
		CacheDir: filepath.Join(dir, "cache-bench"), Client: "bench@scale"})
	if err != nil {
		return nil, fmt.Errorf("open the repository: %w", err)
	}
	defer e.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	doc, err := (&resources.RepoStore{Engine: e}).Load(ctx, backup)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", backup, err)
	}
	return doc.Pods, nil
}
