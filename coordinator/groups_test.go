package coordinator

import (
	"testing"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// groupNBs builds two NodeBackups holding the group "shop": db (order 1)
// on node-a, api-0 and api-1 (order 2) on node-b, in the given phases.
func groupNBs(db, api0, api1 api.PodPhase) []api.NodeBackup {
	pod := func(name string, order int) api.PodAssignment {
		return api.PodAssignment{Namespace: "shop", Name: name, UID: name, Group: &api.GroupRef{Name: "shop", Order: order}}
	}
	res := func(name string, ph api.PodPhase) []api.PodResult {
		if ph == "" {
			return nil
		}
		return []api.PodResult{{UID: name, Phase: ph}}
	}
	a := api.NodeBackup{Spec: api.NodeBackupSpec{NodeName: "node-a", Pods: []api.PodAssignment{pod("db", 1), {Name: "loner", UID: "loner"}}}}
	a.Status.Pods = res("db", db)
	b := api.NodeBackup{Spec: api.NodeBackupSpec{NodeName: "node-b", Pods: []api.PodAssignment{pod("api-0", 2), pod("api-1", 2)}}}
	b.Status.Pods = append(res("api-0", api0), res("api-1", api1)...)
	return []api.NodeBackup{a, b}
}

func TestGates(t *testing.T) {
	two, one := 2, 1
	tests := []struct {
		name       string
		db, a0, a1 api.PodPhase
		freezeUpTo int
		capture    bool
		thawDownTo *int
		abort      bool
		noGate     bool
		prev       *api.GroupGate
	}{
		{name: "no member reported yet: no gate", noGate: true},
		{name: "one member's agent has not reported it: no gate", db: api.PodPending, a0: api.PodPending, noGate: true},
		{name: "all reported: only the lowest order may freeze", db: api.PodPending, a0: api.PodPending, a1: api.PodPending, freezeUpTo: 1},
		{name: "db freezing: still only order 1", db: api.PodFreezing, a0: api.PodPending, a1: api.PodPending, freezeUpTo: 1},
		{name: "db frozen: order 2 may freeze", db: api.PodFrozen, a0: api.PodPending, a1: api.PodPending, freezeUpTo: 2},
		{name: "a failure aborts before every member is reported", a0: api.PodFailed, abort: true},
		{name: "an opened gate stays, reported or not", db: api.PodFrozen,
			prev: &api.GroupGate{Group: "shop", FreezeUpTo: 2}, freezeUpTo: 2},
		{name: "one of order 2 frozen: no capture yet", db: api.PodFrozen, a0: api.PodFrozen, a1: api.PodFreezing, freezeUpTo: 2},
		{name: "all frozen: capture", db: api.PodFrozen, a0: api.PodFrozen, a1: api.PodFrozen, freezeUpTo: 2, capture: true},
		{name: "not all captured: no thaw", db: api.PodCaptured, a0: api.PodCaptured, a1: api.PodCapturing, freezeUpTo: 2, capture: true},
		{name: "all captured: highest order thaws first", db: api.PodCaptured, a0: api.PodCaptured, a1: api.PodCaptured, freezeUpTo: 2, capture: true, thawDownTo: &two},
		{name: "order 2 thawing: db still waits", db: api.PodCaptured, a0: api.PodUploading, a1: api.PodThawing, freezeUpTo: 2, capture: true, thawDownTo: &two},
		{name: "order 2 thawed: db thaws", db: api.PodCaptured, a0: api.PodUploading, a1: api.PodCompleted, freezeUpTo: 2, capture: true, thawDownTo: &one},
		{name: "a failure before capture aborts", db: api.PodFrozen, a0: api.PodFailed, a1: api.PodFrozen, abort: true},
		{name: "a failure after capture does not abort", db: api.PodCaptured, a0: api.PodFailed, a1: api.PodUploading,
			prev: &api.GroupGate{Group: "shop", FreezeUpTo: 2, Capture: true, ThawDownTo: &two}, freezeUpTo: 2, capture: true, thawDownTo: &one},
		{name: "an open gate stays open while members move on", db: api.PodCapturing, a0: api.PodCapturing, a1: api.PodCapturing,
			prev: &api.GroupGate{Group: "shop", FreezeUpTo: 2, Capture: true}, freezeUpTo: 2, capture: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nbs := groupNBs(tc.db, tc.a0, tc.a1)
			if tc.prev != nil {
				nbs[0].Spec.GroupGates = []api.GroupGate{*tc.prev}
			}
			gs := Gates(nbs)
			if tc.noGate {
				if len(gs) != 0 {
					t.Fatalf("gates = %+v, want none until every member is reported", gs)
				}
				return
			}
			if len(gs) != 1 || gs[0].Group != "shop" {
				t.Fatalf("gates = %+v, want one for group shop", gs)
			}
			g := gs[0]
			if g.Abort != tc.abort {
				t.Fatalf("abort = %v (%s), want %v", g.Abort, g.Reason, tc.abort)
			}
			if tc.abort {
				return
			}
			if g.FreezeUpTo != tc.freezeUpTo || g.Capture != tc.capture {
				t.Errorf("freezeUpTo %d capture %v, want %d %v", g.FreezeUpTo, g.Capture, tc.freezeUpTo, tc.capture)
			}
			switch {
			case (g.ThawDownTo == nil) != (tc.thawDownTo == nil):
				t.Errorf("thawDownTo = %v, want %v", g.ThawDownTo, tc.thawDownTo)
			case g.ThawDownTo != nil && *g.ThawDownTo != *tc.thawDownTo:
				t.Errorf("thawDownTo = %d, want %d", *g.ThawDownTo, *tc.thawDownTo)
			}
		})
	}
}
