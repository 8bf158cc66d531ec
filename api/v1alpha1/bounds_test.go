package v1alpha1

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateKeepsBothEndsOnRuneBoundaries(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "01 ... abc"}, // the start and the end kept
		{"pod p: staging full: set agent.stateDir", 25, "pod p: sta ... t.stateDir"},
		{"ééééé", 8, " ... é"}, // 10 bytes; cuts inside an é move to its edges
	} {
		got := Truncate(tc.in, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestCompactDropsOutputAndBoundsErrors(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	p := PodResult{Reason: long, Hooks: []HookResult{{Name: "h", Output: "out", Error: long}}, Volumes: []VolumeResult{{Name: "v", Error: long}}}
	c := p.Compact()
	if c.Hooks[0].Output != "" || len(c.Hooks[0].Error) > MaxHookErrorBytes || len(c.Volumes[0].Error) > MaxHookErrorBytes || len(c.Reason) > MaxMessageBytes {
		t.Errorf("compact = %+v", c)
	}
	if p.Hooks[0].Output != "out" || p.Hooks[0].Error != long {
		t.Error("Compact changed its receiver's hooks")
	}
}

func TestBoundMessages(t *testing.T) {
	var msgs []string
	for range MaxMessages {
		msgs = append(msgs, "m")
	}
	if got := BoundMessages(msgs, "errors"); len(got) != MaxMessages || got[MaxMessages-1] != "m" {
		t.Errorf("at the bound: %q", got)
	}
	got := BoundMessages(append(msgs, "m"), "errors")
	if len(got) != MaxMessages || got[MaxMessages-1] != "... and 2 more errors: quiesce backup describe --details" {
		t.Errorf("over the bound: last %q", got[len(got)-1])
	}
}
