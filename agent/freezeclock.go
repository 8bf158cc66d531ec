package agent

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// freezeClock times one pod's freeze window, from the first pre-hook's
// start to the last post-hook's end, and the hook and capture time inside
// it: what is left is the control overhead quiesce itself adds.
type freezeClock struct {
	frozen, captureStart time.Time
	hooks, capture       time.Duration
}

// froze marks the start of the pre-hooks.
func (c *freezeClock) froze(at time.Time) { c.frozen = at }

// hooksRan adds the time of the results' hooks of one phase ("pre" or
// "post"). Releases of held pre-hooks come back with the post-hooks under
// phase "pre" and last as long as the hold, which overlaps the capture:
// only the post-hooks proper count then.
func (c *freezeClock) hooksRan(results []api.HookResult, phase string) {
	for _, h := range results {
		if h.Phase == phase {
			c.hooks += h.Duration.Duration
		}
	}
}

func (c *freezeClock) captureStarted(at time.Time) { c.captureStart = at }

// captureEnded is called when the thaw begins: the capture ran until then
// (finished, failed, or cancelled by the deadline).
func (c *freezeClock) captureEnded(at time.Time) {
	if !c.captureStart.IsZero() {
		c.capture = at.Sub(c.captureStart)
	}
}

// captureTime is how long the capture took inside the freeze (zero if none ran).
func (c *freezeClock) captureTime() time.Duration { return c.capture }

// thawed records the end of the window in res: its bounds, its length, and
// the control overhead. A pod never frozen (resumed after a restart) has no
// window.
func (c *freezeClock) thawed(at time.Time, res *api.PodResult) {
	if c.frozen.IsZero() {
		return
	}
	window := at.Sub(c.frozen)
	res.FreezeEnd = ptrTime(at)
	res.Freeze = &metav1.Duration{Duration: window}
	res.ControlOverhead = &metav1.Duration{Duration: max(0, window-c.hooks-c.capture)}
}
