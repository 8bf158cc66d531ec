package coordinator

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func viewNB(name, rv string) *api.NodeBackup {
	return &api.NodeBackup{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}}
}

// The view keeps the newest version of each NodeBackup from the watch's
// events; only what changes it starts a round.
func TestNodeBackupViewApply(t *testing.T) {
	v := newNodeBackupView([]api.NodeBackup{*viewNB("b-node-b", "5"), *viewNB("b-node-a", "4")})
	for _, tc := range []struct {
		ev      watch.Event
		changed bool
	}{
		{watch.Event{Type: watch.Modified, Object: viewNB("b-node-a", "4")}, false}, // the version listed
		{watch.Event{Type: watch.Modified, Object: viewNB("b-node-a", "3")}, false}, // older than it
		{watch.Event{Type: watch.Bookmark, Object: viewNB("", "9")}, false},
		{watch.Event{Type: watch.Modified, Object: viewNB("b-node-a", "7")}, true},
		{watch.Event{Type: watch.Added, Object: viewNB("b-node-c", "8")}, true},
		{watch.Event{Type: watch.Deleted, Object: viewNB("b-node-b", "9")}, true},
		{watch.Event{Type: watch.Deleted, Object: viewNB("b-node-x", "10")}, false},
	} {
		changed, err := v.apply(tc.ev)
		if err != nil || changed != tc.changed {
			t.Errorf("%s %s: changed %v (%v), want %v", tc.ev.Type, tc.ev.Object.(*api.NodeBackup).Name, changed, err, tc.changed)
		}
	}
	var got []string
	for _, nb := range v.items() {
		got = append(got, nb.Name+"@"+nb.ResourceVersion)
	}
	if strings.Join(got, " ") != "b-node-a@7 b-node-c@8" {
		t.Errorf("view %v", got)
	}
	_, err := v.apply(watch.Event{Type: watch.Error, Object: &metav1.Status{Message: "too old resource version", Code: 410}})
	if err == nil || !strings.Contains(err.Error(), "too old resource version (410)") {
		t.Errorf("error event: %v", err)
	}
}
