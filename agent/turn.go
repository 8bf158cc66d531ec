package agent

import (
	"context"

	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// groupGate is what a pod's consistency group allows it, read from the
// NodeBackup's gates.
type groupGate struct {
	freeze, capture, thaw, abort bool
	reason                       string
}

// gateFor reads the gate of pod's group from the NodeBackup.
func gateFor(nb *api.NodeBackup, pod *api.PodAssignment) groupGate {
	for _, g := range nb.Spec.GroupGates {
		if g.Group != pod.Group.Name {
			continue
		}
		return groupGate{freeze: pod.Group.Order <= g.FreezeUpTo, capture: g.Capture,
			thaw: g.ThawDownTo != nil && pod.Group.Order >= *g.ThawDownTo, abort: g.Abort, reason: g.Reason}
	}
	return groupGate{}
}

// events translates a gate into phase machine events (repeats are
// harmless: the machine ignores a gate it is not waiting for).
func (g groupGate) events() []phase.Event {
	if g.abort {
		return []phase.Event{phase.AbortGate{Reason: g.reason}}
	}
	var evs []phase.Event
	if g.capture {
		evs = append(evs, phase.CaptureGate{})
	}
	if g.thaw {
		evs = append(evs, phase.ThawGate{})
	}
	return evs
}

// groupTurn is a consistency-group member's view of its group's gates. The
// agent loop delivers each NodeBackup change; the pod's executor waits for
// its turn to freeze, then reads the later gates as events. Only the latest
// gate matters, so the mailbox holds one value. A nil *groupTurn stands for
// a pod outside any group.
type groupTurn struct{ box chan groupGate }

func newGroupTurn(first groupGate) *groupTurn {
	t := &groupTurn{box: make(chan groupGate, 1)}
	t.deliver(first)
	return t
}

// deliver replaces the mailbox's gate with g (one sender: the agent loop).
func (t *groupTurn) deliver(g groupGate) {
	select {
	case <-t.box:
	default:
	}
	t.box <- g
}

// gates is the channel of later gates; nil (never ready) outside a group.
func (t *groupTurn) gates() <-chan groupGate {
	if t == nil {
		return nil
	}
	return t.box
}

// turnResult is how a group member's wait for its turn ended.
type turnResult struct {
	// events to step after Start: the gate that let the pod freeze may
	// already open its capture.
	events []phase.Event
	// abort is set when the pod must not freeze at all.
	abort        bool
	cause        api.FailureCause
	abortMessage string
}

// wait blocks until the member may freeze (its order's turn came), must
// not (the group aborted), or ctx ends.
func (t *groupTurn) wait(ctx context.Context) turnResult {
	for {
		select {
		case g := <-t.box:
			switch {
			case g.abort:
				return turnResult{abort: true, cause: api.CauseGroupAborted,
					abortMessage: firstNonEmpty(g.reason, "consistency group aborted") + "; pod not frozen"}
			case g.freeze:
				return turnResult{events: g.events()}
			}
		case <-ctx.Done():
			return turnResult{abort: true, cause: api.CauseAgentStopped, abortMessage: "agent stopped before the pod's turn came"}
		}
	}
}
