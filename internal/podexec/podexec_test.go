package podexec

import (
	"strings"
	"testing"
)

func TestTailKeepsTheEnd(t *testing.T) {
	tl := &Tail{Max: 4}
	if _, err := tl.Write([]byte("ab")); err != nil || tl.String() != "ab" {
		t.Fatalf("%q %v", tl.String(), err)
	}
	_, _ = tl.Write([]byte("cdef"))
	if got := tl.String(); got != "…cdef" {
		t.Errorf("tail = %q, want …cdef", got)
	}
	_, _ = tl.Write([]byte(strings.Repeat("x", 10)))
	if got := tl.String(); got != "…xxxx" {
		t.Errorf("tail = %q", got)
	}
}
