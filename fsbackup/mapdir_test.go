package fsbackup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	kfs "github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/fs/localfs"
)

// marked is a file mapFiles' function replaced, with the path it was given.
type marked struct {
	kfs.File
	rel string
}

func TestMapFilesMapsEveryFileWithItsPath(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"top", "a/mid", "a/b/deep"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("top", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	root, err := localfs.Directory(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := mapFiles(root, func(rel string, f kfs.File) kfs.Entry { return marked{File: f, rel: rel} })

	// Through Iterate, all the way down.
	var got []string
	var walk func(d kfs.Directory)
	walk = func(d kfs.Directory) {
		err := kfs.IterateEntries(t.Context(), d, func(_ context.Context, e kfs.Entry) error {
			switch x := e.(type) {
			case marked:
				got = append(got, x.rel)
			case kfs.Directory:
				walk(x)
			case kfs.Symlink:
				got = append(got, "symlink "+x.Name())
			default:
				t.Errorf("%s: %T, neither mapped nor passed through", e.Name(), e)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk(m)
	slices.Sort(got)
	if want := []string{"a/b/deep", "a/mid", "symlink link", "top"}; !slices.Equal(got, want) {
		t.Errorf("mapped %q, want %q", got, want)
	}

	// Through Child: the same paths.
	a, err := m.Child(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.(kfs.Directory).Child(t.Context(), "b")
	if err != nil {
		t.Fatal(err)
	}
	deep, err := b.(kfs.Directory).Child(t.Context(), "deep")
	if err != nil {
		t.Fatal(err)
	}
	if mk, ok := deep.(marked); !ok || mk.rel != "a/b/deep" {
		t.Errorf("Child a/b/deep = %#v, want it mapped with its path", deep)
	}
	if _, err := m.Child(t.Context(), "absent"); err == nil {
		t.Error("Child of an absent name: want kopia's error, got none")
	}
}
