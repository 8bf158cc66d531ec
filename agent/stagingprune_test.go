package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/phase"
)

func TestStalePodCopies(t *testing.T) {
	names := []string{"pvc%2Fdata@uid-a", "emptydir%40x@uid-b", "no-uid", "trailing@", "other@uid-c"}
	keep := func(uid string) bool { return uid == "uid-a" }
	got := stalePodCopies(names, keep)
	want := []string{"emptydir%40x@uid-b", "other@uid-c"}
	if !slices.Equal(got, want) {
		t.Errorf("stale = %v, want %v", got, want)
	}
}

// TestPruneStaging: the copies of a pod gone from the node go; those of a
// pod still there, or journalled (an upload may still read its copy), stay.
func TestPruneStaging(t *testing.T) {
	root := t.TempDir()
	staging := filepath.Join(root, "staging")
	for _, d := range []string{"v1@present", "v2@gone", "v3@journalled", "v4@gone"} {
		if err := os.MkdirAll(filepath.Join(staging, d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(staging, d, "sub", "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kubelet := filepath.Join(root, "kubelet")
	if err := os.MkdirAll(filepath.Join(kubelet, "pods", "present"), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(root, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Put(journal.Record{Backup: "b", Namespace: "ns", Pod: "p", PodUID: "journalled", Phase: phase.Uploading}); err != nil {
		t.Fatal(err)
	}
	a := &Agent{Journal: j, Log: zap.NewNop(), Volumes: &FSVolumes{StagingRoot: staging}, PodOnNode: KubeletHasPod(kubelet)}
	a.pruneStaging(a.Volumes.(stagingPruner))
	ents, err := os.ReadDir(staging)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{"v1@present", "v3@journalled"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	// No kubelet pods directory (its mount missing): every pod counts as
	// present, nothing is pruned.
	if !KubeletHasPod(filepath.Join(root, "no-kubelet"))("gone") {
		t.Error("a missing kubelet pods directory makes pods count as gone")
	}
	// No staging area yet: nothing to do, no error.
	if removed, err := (&FSVolumes{StagingRoot: filepath.Join(root, "none")}).PruneStaging(func(string) bool { return false }); err != nil || len(removed) != 0 {
		t.Errorf("missing staging root: %v %v", removed, err)
	}
}
