package charttest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.uber.org/zap"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/coordinator"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// targetLabels are the labels Prometheus gives every series of a scraped
// target (the ServiceMonitor's defaults); a query may select on them
// although no exporter exposes them.
var targetLabels = []string{"namespace", "job", "instance", "pod", "service", "endpoint", "container"}

// synthetic are the series Prometheus makes itself for every target.
var synthetic = map[string]bool{"up": true}

// series is what a scrape exposes of one metric name: each label with the
// values seen.
type series map[string]map[string]bool

// TestMonitoringQueriesUseScrapedMetrics parses every PromQL expression of
// the chart's PrometheusRule and Grafana dashboard and checks that each
// metric it selects, each label it selects or groups on, and each value
// it requires of a label is in a real scrape of the agent's and the
// exporter's registries.
func TestMonitoringQueriesUseScrapedMetrics(t *testing.T) {
	docs, err := render(t, "--set", "repository.password=pw",
		"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboard.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	exprs := ruleExprs(t, docs["PrometheusRule"])
	if len(exprs) < 7 {
		t.Fatalf("PrometheusRule: %d alerts, want at least the 7 of docs/operations.md", len(exprs))
	}
	dash := dashboardExprs(t, docs["ConfigMap"])
	if len(dash) == 0 {
		t.Fatal("no dashboard ConfigMap with queries rendered")
	}
	maps.Copy(exprs, dash)

	scraped := scrape(t)
	for where, expr := range exprs {
		e, err := parser.ParseExpr(grafanaVars(expr))
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, expr)
			continue
		}
		for _, problem := range checkExpr(e, scraped) {
			t.Errorf("%s: %s\n%s", where, problem, expr)
		}
	}
}

// checkExpr returns what in e the scrape does not have.
func checkExpr(e parser.Expr, scraped map[string]series) []string {
	var problems []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			problems = append(problems, checkSelector(n, scraped)...)
		case *parser.AggregateExpr:
			for _, l := range n.Grouping {
				if !slices.Contains(targetLabels, l) && !anyHasLabel(n.Expr, scraped, l) {
					problems = append(problems, fmt.Sprintf("groups by label %q, which none of its metrics has", l))
				}
			}
		}
		return nil
	})
	return problems
}

func checkSelector(vs *parser.VectorSelector, scraped map[string]series) []string {
	if synthetic[vs.Name] {
		return nil
	}
	s, ok := scraped[vs.Name]
	if !ok {
		return []string{fmt.Sprintf("metric %q is not in the scrape of the agent and the exporter", vs.Name)}
	}
	var problems []string
	for _, m := range vs.LabelMatchers {
		if m.Name == "__name__" || slices.Contains(targetLabels, m.Name) {
			continue
		}
		values, ok := s[m.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no label %q", vs.Name, m.Name))
			continue
		}
		if m.Type == labels.MatchEqual && m.Value != "" && !values[m.Value] {
			problems = append(problems, fmt.Sprintf("%s{%s=%q}: no such value in the scrape (have %v)", vs.Name, m.Name, m.Value,
				slices.Sorted(maps.Keys(values))))
		}
	}
	return problems
}

func anyHasLabel(e parser.Expr, scraped map[string]series, label string) bool {
	found := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			_, has := scraped[vs.Name][label]
			found = found || has
		}
		return nil
	})
	return found
}

// grafanaVars replaces the dashboard's Grafana interval variables with a
// duration, so the query parses as Prometheus will receive it.
func grafanaVars(expr string) string {
	return strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "7d").Replace(expr)
}

func ruleExprs(t *testing.T, docs [][]byte) map[string]string {
	t.Helper()
	if len(docs) != 1 {
		t.Fatalf("%d PrometheusRules rendered, want 1", len(docs))
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert, Record, Expr string
				}
			}
		}
	}
	if err := yaml.Unmarshal(docs[0], &rule); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert+r.Record] = r.Expr
		}
	}
	return out
}

func dashboardExprs(t *testing.T, docs [][]byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, doc := range docs {
		cm := decode[corev1.ConfigMap](t, doc)
		for key, data := range cm.Data {
			if !strings.HasSuffix(key, ".json") {
				continue
			}
			if cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("dashboard ConfigMap %s lacks the sidecar's label grafana_dashboard=1", cm.Name)
			}
			var d struct {
				Panels []struct {
					Title   string
					Targets []struct{ Expr string }
				}
			}
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				t.Fatalf("dashboard %s: %v", key, err)
			}
			for _, p := range d.Panels {
				for i, tg := range p.Targets {
					out[fmt.Sprintf("dashboard panel %q query %d", p.Title, i)] = tg.Expr
				}
			}
		}
	}
	return out
}

// scrape gathers the agent's registry (as cmd/quiesce's agent builds it,
// after one pod's backup) and the exporter's (over a namespace with
// Backups, a Restore and a schedule), and returns what they expose by
// series name.
func scrape(t *testing.T) map[string]series {
	t.Helper()
	agentReg := metrics.NewRegistry()
	m := metrics.NewAgent(agentReg)
	// Series that exist once a backup has run: labels known only then.
	m.FreezeWindow.WithLabelValues("shop").Observe(2)
	m.PodFailures.WithLabelValues(string(api.CauseFreezeDeadline)).Inc()

	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := api.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	at := func(d time.Duration) *metav1.Time { tm := metav1.NewTime(now.Add(-d)); return &tm }
	backup := func(name, schedule string, phase api.BackupPhase, ended time.Duration) client.Object {
		return &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: name,
			Labels: map[string]string{coordinator.LabelSchedule: schedule}},
			Status: api.BackupStatus{Phase: phase, StartTimestamp: at(ended + time.Minute), CompletionTimestamp: at(ended)}}
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(
		backup("nightly-1", "nightly", api.BackupPhaseCompleted, 48*time.Hour),
		backup("nightly-2", "nightly", api.BackupPhaseFailed, 24*time.Hour),
		backup("hourly-1", "hourly", api.BackupPhasePartiallyFailed, time.Hour),
		&api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r"},
			Status: api.RestoreStatus{Phase: api.RestorePhaseCompleted, CompletionTimestamp: at(time.Hour)}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "quiesce-nightly",
			Labels: map[string]string{coordinator.LabelSchedule: "nightly"}}, Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *"}},
	).Build()
	exporterReg := metrics.NewRegistry()
	exporterReg.MustRegister(coordinator.NewExporter(c, "quiesce", zap.NewNop()))

	out := map[string]series{}
	for _, reg := range []*prometheus.Registry{agentReg, exporterReg} {
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		for _, f := range families {
			addFamily(out, f)
		}
	}
	return out
}

// addFamily records the series names a family is exposed as: a histogram
// as _bucket (with le), _sum and _count; a summary as itself (with
// quantile), _sum and _count.
func addFamily(out map[string]series, f *dto.MetricFamily) {
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		s := out[name]
		if s == nil {
			s = series{}
			out[name] = s
		}
		put := func(k, v string) {
			if s[k] == nil {
				s[k] = map[string]bool{}
			}
			s[k][v] = true
		}
		for _, l := range labels {
			put(l.GetName(), l.GetValue())
		}
		for i := 0; i+1 < len(extra); i += 2 {
			put(extra[i], extra[i+1])
		}
	}
	name := f.GetName()
	for _, m := range f.GetMetric() {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			for _, b := range m.GetHistogram().GetBucket() {
				add(name+"_bucket", m.GetLabel(), "le", formatBound(b.GetUpperBound()))
			}
			add(name+"_bucket", m.GetLabel(), "le", "+Inf")
			add(name+"_sum", m.GetLabel())
			add(name+"_count", m.GetLabel())
		case dto.MetricType_SUMMARY:
			for _, q := range m.GetSummary().GetQuantile() {
				add(name, m.GetLabel(), "quantile", formatBound(q.GetQuantile()))
			}
			add(name+"_sum", m.GetLabel())
			add(name+"_count", m.GetLabel())
		default:
			add(name, m.GetLabel())
		}
	}
}

// formatBound writes a bucket bound as the text exposition format does.
func formatBound(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
