package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quiesce-dev/quiesce/fsbackup"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SetContext(t.Context())
	err := cmd.Execute()
	return out.String(), err
}

func TestFsCommandsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(dir, "vol")
	if err := os.MkdirAll(filepath.Join(vol, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "f.txt"), []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	repo := []string{"--repo", filepath.Join(dir, "repo"), "--cache-dir", filepath.Join(dir, "cache"), "--password-file", pw}
	must := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, append(args, repo...)...)
		if err != nil {
			t.Fatalf("quiesce %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("repo", "init")
	out := must("fs", "backup", vol, "--source", "shop/db/data", "--tag", "backup=b1", "--json",
		"--staged", "--staging-dir", filepath.Join(dir, "stg"))
	var res fsBackupOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Result.SnapshotID == "" || res.Capture == nil ||
		res.Result.Files != 1 {
		t.Fatalf("backup output: %v\n%s", err, out)
	}
	var snaps []fsbackup.Snapshot
	if err := json.Unmarshal([]byte(must("fs", "snapshots", "--json")), &snaps); err != nil || len(snaps) != 1 ||
		snaps[0].Tags["backup"] != "b1" {
		t.Fatalf("snapshots: %v %+v", err, snaps)
	}
	must("fs", "restore", res.Result.SnapshotID, filepath.Join(dir, "out"))
	if b, err := os.ReadFile(filepath.Join(dir, "out", "sub", "f.txt")); err != nil || string(b) != "data" {
		t.Fatalf("restored file: %q %v", b, err)
	}
	if out := must("fs", "verify", res.Result.SnapshotID); !strings.Contains(out, "no errors") {
		t.Fatalf("verify: %s", out)
	}
	must("repo", "maintenance", "--full")

	t.Setenv(fsbackup.PasswordEnv, "wrong")
	_, err := runCLI(t, "repo", "status", "--repo", filepath.Join(dir, "repo"), "--cache-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "invalid repository password") {
		t.Fatalf("wrong password: %v", err)
	}
	t.Setenv(fsbackup.PasswordEnv, "")
	if _, err := runCLI(t, "fs", "snapshots", "--repo", filepath.Join(dir, "repo")); err == nil ||
		!strings.Contains(err.Error(), "QUIESCE_REPO_PASSWORD") {
		t.Fatalf("no password: %v", err)
	}
}
