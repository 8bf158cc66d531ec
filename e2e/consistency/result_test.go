package consistency

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 3}, {95, 5}, {100, 5}, {1, 1}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty: want 0")
	}
}

func TestAckCheck(t *testing.T) {
	t0 := time.Unix(100, 0)
	ready, released := t0.Add(10*time.Second), t0.Add(20*time.Second)
	acks := []Ack{{"a", t0}, {"b", t0.Add(9 * time.Second)}, {"c", ready}, {"d", released}}
	missing, inFreeze := AckCheck(acks, map[string]bool{"a": true}, ready, released)
	if missing != 1 || inFreeze != 1 {
		t.Errorf("missing %d inFreeze %d, want 1 1", missing, inFreeze)
	}
}

func TestSummarize(t *testing.T) {
	cs := []Cycle{
		{Recipe: "r", Captured: true, Started: true, ChecksOK: true, InvariantOK: true, Freeze: time.Second},
		{Recipe: "r", Captured: true, Started: true, ChecksOK: true, InvariantOK: false, Freeze: 3 * time.Second, Note: "sum off"},
		{Recipe: "s", HookErr: "function pg_start_backup does not exist"},
	}
	ss := Summarize(cs)
	if len(ss) != 2 || ss[0].Clean != 1 || ss[0].InvViolation != 1 || ss[1].HookFailed != 1 || ss[0].FreezeP95 != 3*time.Second {
		t.Fatalf("%+v", ss)
	}
	var b strings.Builder
	WriteTable(&b, ss)
	if !strings.Contains(b.String(), "| r | 2 | 1 |") || !strings.Contains(b.String(), "pg_start_backup") {
		t.Error(b.String())
	}
}

func TestMaxGap(t *testing.T) {
	t0 := time.Unix(100, 0)
	acks := []Ack{{"c", t0.Add(5 * time.Second)}, {"a", t0.Add(-time.Second)}, {"b", t0.Add(time.Second)}}
	if got := MaxGap(acks, t0); got != 4*time.Second {
		t.Errorf("MaxGap = %s, want 4s (1s to 5s; the ack before from ignored)", got)
	}
}

func TestLogErrorsLeavesClientSessionsOut(t *testing.T) {
	log := `LOG: database system is ready
FATAL:  the database system is starting up
FATAL:  connection to client lost
FATAL:  could not locate a valid checkpoint record
`
	if got := LogErrors(log, "FATAL:", "PANIC:"); got != "FATAL:  could not locate a valid checkpoint record" {
		t.Errorf("LogErrors = %q: want only the server's own error", got)
	}
}

func TestSpliceTable(t *testing.T) {
	doc := "# Doc\n\nprose\n" + TableBegin + "\nold table\n" + TableEnd + "\nafter\n"
	got, err := SpliceTable([]byte(doc), []byte("| new |\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# Doc\n\nprose\n" + TableBegin + "\n\n| new |\n\n" + TableEnd + "\nafter\n"
	if string(got) != want {
		t.Errorf("SpliceTable:\n%s\nwant:\n%s", got, want)
	}
	// Again on its own output: the same table, not a second one.
	if again, _ := SpliceTable(got, []byte("| new |\n")); string(again) != want {
		t.Errorf("second splice:\n%s", again)
	}
	for _, bad := range []string{"no markers", TableEnd + "\n" + TableBegin, TableBegin + " only"} {
		if _, err := SpliceTable([]byte(bad), []byte("x")); err == nil || !strings.Contains(err.Error(), "add both") {
			t.Errorf("SpliceTable(%q) = %v, want an error saying where the markers go", bad, err)
		}
	}
}
