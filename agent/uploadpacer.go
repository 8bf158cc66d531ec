package agent

import (
	"context"
	"sync"
)

// UploadPacer puts a node's freezes ahead of its uploads. Staged uploads run
// after their pod's thaw, beside the next pods' hooks and captures, on the
// same cores and disks: ten uploads at once made a pre-hook's exec ten
// times slower and the agent's memory grow with each. The pacer bounds the
// uploads running at once, and holds their reads while any pod of the node
// is inside its freeze window, so the frozen pod's hooks and capture get
// the node. A freeze lasts at most its pod's maxFreeze, so an upload waits
// at most that long at a time.
type UploadPacer struct {
	slots chan struct{}

	mu     sync.Mutex
	frozen int
	open   chan struct{} // closed while no pod is frozen
}

// NewUploadPacer lets slots uploads run at once (at least one).
func NewUploadPacer(slots int) *UploadPacer {
	p := &UploadPacer{slots: make(chan struct{}, max(1, slots)), open: make(chan struct{})}
	close(p.open)
	return p
}

// froze counts a pod entering its freeze window (its first pre-hook
// starts). A nil pacer paces nothing.
func (p *UploadPacer) froze() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen == 0 {
		p.open = make(chan struct{})
	}
	p.frozen++
}

// thawed counts a pod leaving its freeze window; one call per froze.
func (p *UploadPacer) thawed() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen--
	if p.frozen == 0 {
		close(p.open)
	}
}

// Pause waits while a pod of the node is frozen; an upload calls it before
// each read. Its error is ctx's.
func (p *UploadPacer) Pause(ctx context.Context) error {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquire takes an upload slot; false if ctx ends first.
func (p *UploadPacer) acquire(ctx context.Context) bool {
	if p == nil {
		return ctx.Err() == nil
	}
	select {
	case p.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *UploadPacer) release() {
	if p != nil {
		<-p.slots
	}
}
