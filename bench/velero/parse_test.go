package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogKV(t *testing.T) {
	line := `time="2026-12-07T03:00:00Z" level=info msg="running exec hook" backup=velero/b1 hookCommand="[/bin/sh -c echo \"x\"]" hookContainer=app hookPhase=pre name=small-00 namespace=vel-bench`
	got := map[string]string{}
	for _, m := range logKV.FindAllStringSubmatch(line, -1) {
		got[m[1]] = m[2]
	}
	for k, want := range map[string]string{"msg": `"running exec hook"`, "backup": "velero/b1", "hookPhase": "pre", "name": "small-00", "namespace": "vel-bench"} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}

func TestReadStamp(t *testing.T) {
	f := filepath.Join(t.TempDir(), "frozen-at")
	if err := os.WriteFile(f, []byte("1796612658.931681\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := readStamp(f), time.Unix(1796612658, 931681000); !got.Equal(want) {
		t.Errorf("readStamp = %v, want %v", got, want)
	}
	if got := readStamp(f + "-missing"); !got.IsZero() {
		t.Errorf("missing file: %v, want zero", got)
	}
}

func TestQuantile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if got := quantile(ds, 0.5); got != 3 {
		t.Errorf("median = %v, want 3", got)
	}
	if got := quantile(ds, 1); got != 5 {
		t.Errorf("max = %v, want 5", got)
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("empty = %v, want 0", got)
	}
}

func TestScheduleManifestNestsTheBackupSpec(t *testing.T) {
	s := string(compatSchedule("s1"))
	for _, want := range []string{"kind: Schedule", "  template:\n    includedNamespaces: [vel-compat]", "      - name: by-label"} {
		if !strings.Contains(s, want) {
			t.Errorf("schedule manifest lacks %q:\n%s", want, s)
		}
	}
}
