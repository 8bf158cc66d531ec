package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

func TestRestoreWait(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.json", `{"ok":true}`)
	out, err := runCLI(t, "restore-wait", "--signal-file", ok, "--restore", "r1", "--timeout", "1m")
	if err != nil || out != "restore r1: volume data restored\n" {
		t.Errorf("ok signal: %q, %v", out, err)
	}
	bad := write("bad.json", `{"ok":false,"reason":"volume data: restore of snapshot k1 into /x: no space left on device"}`)
	_, err = runCLI(t, "restore-wait", "--signal-file", bad, "--restore", "r1", "--timeout", "1m")
	if err == nil || err.Error() != "restore r1: volume data not restored: volume data: restore of snapshot k1 into /x: no space left on device" {
		t.Errorf("failed signal: %v", err)
	}
	garbled := write("garbled.json", `{"ok":`)
	if _, err = runCLI(t, "restore-wait", "--signal-file", garbled, "--restore", "r1"); err == nil || !strings.Contains(err.Error(), "garbled.json") {
		t.Errorf("garbled signal: %v", err)
	}
}

// Time is fake here: the 10-minute timeout and the 250ms polls pass at once.
func TestRestoreWaitTimesOutAndSeesALateFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "done.json")
		_, err := runCLI(t, "restore-wait", "--signal-file", missing, "--restore", "r1", "--timeout", "10m")
		want := "restore r1: timed out after 10m0s waiting for the quiesce agent to restore this pod's volumes; see `quiesce restore describe r1`"
		if err == nil || err.Error() != want {
			t.Errorf("timeout: %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		late := filepath.Join(t.TempDir(), "done.json")
		done := make(chan error, 1)
		go func() {
			_, err := runCLI(t, "restore-wait", "--signal-file", late, "--restore", "r1", "--timeout", "10m")
			done <- err
		}()
		synctest.Wait() // the command is polling: the file is not there yet
		select {
		case err := <-done:
			t.Fatalf("returned before the signal: %v", err)
		default:
		}
		if err := os.WriteFile(late, []byte(`{"ok":true}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("late signal: %v", err)
		}
	})
}
