package main

import "testing"

func TestSoftMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		limit, gomemlimit string
		want              int64
	}{
		{"268435456", "", 228170090},
		{"268435456", "200MiB", 0}, // the user's own setting wins
		{"", "", 0},
		{"0", "", 0},
		{"512Mi", "", 0}, // the downward API gives bytes; anything else is ignored
	} {
		if got := softMemoryLimit(c.limit, c.gomemlimit); got != c.want {
			t.Errorf("softMemoryLimit(%q, %q) = %d, want %d", c.limit, c.gomemlimit, got, c.want)
		}
	}
}
