package blocksums

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTripAndStale(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sums", "f")
	w, err := Create(p, 16)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []uint64{1, 2, 3} {
		w.Add(s)
	}
	if err := w.Commit("Ixabc", 40); err != nil { // 3 blocks of 16
		t.Fatal(err)
	}
	r, err := Open(p, "Ixabc", 16)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for s, ok := r.Next(); ok; s, ok = r.Next() {
		got = append(got, s)
	}
	r.Close()
	if len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("sums read back: %v", got)
	}
	for _, c := range []struct {
		object string
		bs     int64
	}{{"Ixother", 16}, {"Ixabc", 32}} {
		if _, err := Open(p, c.object, c.bs); !errors.Is(err, ErrStale) {
			t.Errorf("Open(%s, %d): want ErrStale, got %v", c.object, c.bs, err)
		}
	}
	// A writer that fails (wrong count) leaves the previous sums in place.
	w, _ = Create(p, 16)
	w.Add(9)
	if err := w.Commit("Ixnew", 40); err == nil {
		t.Fatal("commit of 1 sum for 3 blocks succeeded")
	}
	if _, err := Open(p, "Ixabc", 16); err != nil {
		t.Fatalf("previous sums lost: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	// Damaged: truncated.
	if err := os.Truncate(p, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, "Ixabc", 16); !errors.Is(err, ErrStale) {
		t.Errorf("truncated: want ErrStale, got %v", err)
	}
}
