// Command bench-velero measures quiesce side by side with Velero v1.18.3
// (node-agent, kopia uploader) on the local two-node cluster, in one run,
// on the same pods and the same Velero Backup manifest (issue 17; make
// bench-velero; results in docs/benchmarks.md). Per tool, for a first and
// an incremental backup: each pod's freeze window (from the markers its
// pre- and post-hook write), pre-hook exec latency, wall time, bytes
// stored, API-server requests, node agent peak RSS. Then, per tool, a
// backup during which the API server is stopped while a pre-hook runs.
// With -compat it also runs the compatibility comparison
// (docs/velero-compatibility.md).
//
// Both tools store into one SeaweedFS on the host bridge (198.18.240.1),
// in buckets of their own. Everything the run creates is in namespaces
// vel-* and velero, and is removed at the end (unless -keep).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

type options struct {
	kubeconfig, kubectl, helm, velero, weed, quiesce string
	quiesceImage                                     string
	work, out                                        string
	leaseFile, leaseHolder                           string
	bigMB, small, smallMB                            int
	apiDown, timeout                                 time.Duration
	keep, bench, apiDownTest, compat                 bool
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", ".cache/cluster/admin.kubeconfig", "admin kubeconfig of the local cluster")
	flag.StringVar(&o.kubectl, "kubectl", ".cache/k8s/v1.37.2/bin/kubectl", "kubectl")
	flag.StringVar(&o.helm, "helm", "bin/helm", "helm")
	flag.StringVar(&o.velero, "velero", ".cache/velero/bin/velero", "the velero binary (make velero-bins)")
	flag.StringVar(&o.weed, "weed", ".cache/seaweedfs/weed", "the SeaweedFS binary (make weed)")
	flag.StringVar(&o.quiesce, "quiesce", "bin/quiesce", "the quiesce CLI")
	flag.StringVar(&o.quiesceImage, "quiesce-image", "docker.io/quiesce/quiesce:bench-velero", "quiesce image on the nodes")
	flag.StringVar(&o.work, "work", ".cache/velero/run", "work directory (S3 data, rendered manifests)")
	flag.StringVar(&o.out, "out", "", "write the report (markdown) here and the results (JSON) next to it; default WORK/report.md")
	flag.StringVar(&o.leaseFile, "lease-file", "", "shared cluster: stop touching it once this file stops naming -lease-holder")
	flag.StringVar(&o.leaseHolder, "lease-holder", "velero", "who the lease file must name")
	flag.IntVar(&o.bigMB, "big-mb", 1024, "data of the large pod, MB")
	flag.IntVar(&o.small, "small", 20, "small pods, spread over both nodes")
	flag.IntVar(&o.smallMB, "small-mb", 50, "data of each small pod, MB")
	flag.DurationVar(&o.apiDown, "api-down", 20*time.Second, "how long the API server is stopped during a pre-hook")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "longest one backup may take")
	flag.BoolVar(&o.keep, "keep", false, "leave everything installed (debugging)")
	flag.BoolVar(&o.bench, "bench", true, "run the backups (first and incremental)")
	flag.BoolVar(&o.apiDownTest, "api-down-test", true, "run the API-server-stopped backups")
	flag.BoolVar(&o.compat, "compat", false, "run the compatibility comparison")
	flag.Parse()
	// Absolute: some children run in other directories (weed in its own).
	for _, p := range []*string{&o.kubeconfig, &o.kubectl, &o.helm, &o.velero, &o.weed, &o.quiesce, &o.work} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	if o.out == "" {
		o.out = filepath.Join(o.work, "report.md")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := benchmark(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-velero:", err)
		os.Exit(1)
	}
}

// results is the run's machine output (exact durations and counts).
type results struct {
	Date     time.Time       `json:"date"`
	Machine  string          `json:"machine"`
	Options  map[string]any  `json:"options"`
	IdleRate float64         `json:"idleRequestsPerSecond"`
	Backups  []backupRun     `json:"backups"`
	APIDown  []apiDownResult `json:"apiDown"`
	Compat   *compatReport   `json:"compat,omitempty"`
	Pods     int             `json:"pods"`
}

func benchmark(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	e, err := newEnv(ctx, o)
	if err != nil {
		return err
	}
	if !o.keep {
		defer e.close()
	}
	res := results{Date: time.Now().UTC(), Machine: machine(), Options: map[string]any{
		"bigMB": o.bigMB, "small": o.small, "smallMB": o.smallMB, "apiDown": o.apiDown.String()}}
	e.s3, err = startS3(ctx, o.weed, filepath.Join(o.work, "s3"), veleroBucket, quiesceBucket)
	if err != nil {
		return err
	}
	e.onCleanup(func(context.Context) { e.s3.Stop() })
	e.logf("S3 (SeaweedFS) on %s", e.s3.Endpoint)
	if err := e.installVelero(ctx); err != nil {
		return err
	}
	e.logf("Velero installed in %s", veleroNS)
	if err := e.installQuiesce(ctx); err != nil {
		return err
	}
	e.logf("quiesce installed in %s", quiesceNS)
	// Written as it goes: a run cut short (the lease taken back) still
	// leaves what it measured.
	save := func() error { return writeReport(o.out, res) }
	if o.bench {
		pods, err := e.benchWorkload(ctx)
		if err != nil {
			return err
		}
		res.Pods = len(pods)
		if res.IdleRate, err = e.idleRate(ctx, 20*time.Second); err != nil {
			return err
		}
		e.logf("idle: %.1f API requests/s", res.IdleRate)
		stamp := time.Now().UTC().Format("150405")
		rounds := []struct {
			kind  string
			order []string
		}{{"first", []string{toolVelero, toolQuiesce}}, {"incremental", []string{toolQuiesce, toolVelero}}}
		for i, rd := range rounds {
			if i > 0 {
				if err := changeData(pods, uint64(i)); err != nil {
					return err
				}
			}
			for _, tool := range rd.order {
				name := fmt.Sprintf("bench-%s-%s-%d", stamp, toolSlug(tool), i)
				r, err := e.backupOnce(ctx, tool, rd.kind, name, pods, res.IdleRate)
				res.Backups = append(res.Backups, r)
				if err != nil {
					_ = save()
					return err
				}
				if err := save(); err != nil {
					return err
				}
			}
		}
	}
	if o.apiDownTest {
		if err := e.createNamespace(ctx, apiDownNS); err != nil {
			return err
		}
		pods, err := e.createPods(ctx, apiDownNS, []*corev1.Pod{apiDownPod()}, []int{1})
		if err != nil {
			return err
		}
		if err := fill(pods[0], 0, -1); err != nil {
			return err
		}
		for _, tool := range []string{toolVelero, toolQuiesce} {
			r, err := e.apiDown(ctx, tool, pods[0], fmt.Sprintf("apidown-%s-%s", time.Now().UTC().Format("150405"), toolSlug(tool)))
			res.APIDown = append(res.APIDown, r)
			if err != nil {
				_ = save()
				return err
			}
			_ = save()
			// The control plane catches up after a stop (leases, watches).
			time.Sleep(15 * time.Second)
		}
	}
	if o.compat {
		c, err := e.compat(ctx)
		res.Compat = c
		if err != nil {
			_ = save()
			return err
		}
	}
	return save()
}

func toolSlug(tool string) string {
	if tool == toolVelero {
		return "velero"
	}
	return "quiesce"
}

func writeReport(out string, res results) error {
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out[:len(out)-len(filepath.Ext(out))]+".json", js, 0o644); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(markdown(res)), 0o644)
}
