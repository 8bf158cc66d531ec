package simcluster_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/bench/simcluster"
	"github.com/quiesce-dev/quiesce/coordinator"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// startAPI starts a real API server with the chart's CRDs, and returns it
// with a scheme, a client and the repository's root.
func startAPI(t *testing.T) (*testenv.KubeAPI, *runtime.Scheme, client.WithWatch, string) {
	t.Helper()
	k := testenv.StartKubeAPITest(t)
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := api.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(k.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	crds, _ := filepath.Glob(filepath.Join(root, "charts", "quiesce", "crds", "*.yaml"))
	if err := testenv.ApplyManifests(t.Context(), c, crds...); err != nil {
		t.Fatal(err)
	}
	return k, s, c, root
}

// The short scale run: 200 pods on 20 simulated nodes, a real API server,
// the real coordinator and 20 real agent loops (fake runtime and volumes,
// some hooks, captures and uploads failing). It asserts correctness only:
// every pod final with a cause when failed, every complete group frozen,
// captured and thawed in order. No timing is asserted.
func TestShortScaleRun(t *testing.T) {
	k, s, c, _ := startAPI(t)
	ctx := t.Context()
	l := simcluster.Plan(simcluster.Spec{Nodes: 20, Pods: 200, Seed: 1})
	if err := simcluster.Populate(ctx, c, l); err != nil {
		t.Fatal(err)
	}
	timing := simcluster.Realistic
	timing.Scale, timing.FailRate = 0.05, 0.03
	trace := simcluster.NewTrace()
	agents, err := simcluster.StartAgents(ctx, l, simcluster.AgentOptions{Config: k.Config, Scheme: s, Timing: timing,
		CaptureSlots: 2, StateDir: t.TempDir(), Log: zaptest.NewLogger(t).Named("agent"), Trace: trace})
	if err != nil {
		t.Fatal(err)
	}
	b := simcluster.NewBackup("short", l, metav1.Duration{Duration: 5 * time.Minute})
	if err := c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	co := &coordinator.Coordinator{Client: c, Log: zaptest.NewLogger(t).Named("coordinator"), AgentNamespace: simcluster.Namespace,
		AgentSelector: labels.SelectorFromSet(simcluster.AgentLabel), Timeout: 10 * time.Minute}
	got, err := co.Run(ctx, client.ObjectKeyFromObject(b))
	if stopErr := agents.Stop(); stopErr != nil {
		t.Error(stopErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	var nbs api.NodeBackupList
	if err := c.List(ctx, &nbs, client.InNamespace(simcluster.Namespace), client.MatchingLabels{api.LabelBackup: b.Name}); err != nil {
		t.Fatal(err)
	}
	report, done := api.BackupReport(nil, nbs.Items)
	if !done || !got.Status.Phase.Final() || got.Status.PodCounts.Total != len(l.Pods) {
		t.Fatalf("backup %s, done %v, counts %+v: want final with %d pods", got.Status.Phase, done, got.Status.PodCounts, len(l.Pods))
	}
	if bad := simcluster.Check(l, b.Name, report, trace); len(bad) > 0 {
		t.Fatalf("%d problems:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	t.Logf("backup %s: %+v", got.Status.Phase, got.Status.PodCounts)
}
