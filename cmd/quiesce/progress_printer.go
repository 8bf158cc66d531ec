package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressPrinter shows progress as people follow it: on a terminal one
// line redrawn in place, its elapsed times ticking every second; elsewhere
// (CI logs, a pipe) a plain line whenever something but the time changed.
type progressPrinter struct {
	out io.Writer
	tty bool
	now func() time.Time

	mu      sync.Mutex
	last    *progress
	lastKey string
}

func newProgressPrinter(out io.Writer) *progressPrinter {
	f, ok := out.(*os.File)
	return &progressPrinter{out: out, tty: ok && term.IsTerminal(int(f.Fd())), now: time.Now}
}

// show prints p if the plain format needs a new line, or redraws the
// terminal line.
func (pp *progressPrinter) show(p progress) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.last = &p
	if pp.tty {
		pp.redraw()
		return
	}
	if k := p.key(); k != pp.lastKey {
		fmt.Fprintln(pp.out, p.format(pp.now()))
		pp.lastKey = k
	}
}

// redraw rewrites the terminal line: carriage return, the line, erase to
// its end. The caller holds mu.
func (pp *progressPrinter) redraw() {
	if pp.last != nil {
		fmt.Fprintf(pp.out, "\r%s\x1b[K", pp.last.format(pp.now()))
	}
}

// tick redraws the terminal line every second until ctx ends, then ends
// the line, so what follows starts on a new one.
func (pp *progressPrinter) tick(ctx context.Context) {
	if !pp.tty {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			pp.mu.Lock()
			if pp.last != nil {
				fmt.Fprintln(pp.out)
			}
			pp.mu.Unlock()
			return
		case <-t.C:
			pp.mu.Lock()
			pp.redraw()
			pp.mu.Unlock()
		}
	}
}
