package lint

import (
	"os"
	"strings"
	"testing"
)

// FuzzLint: any input is linted without panic, and problems are never empty.
func FuzzLint(f *testing.F) {
	for _, name := range []string{"testdata/lint.yaml", "testdata/nginx-fsfreeze.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("a: &a [*a, *a]\n")
	f.Add("kind: List\nitems: [{kind: Pod, metadata: {name: p}, spec: {containers: [{name: c}]}}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := Lint(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rep.Problems {
			if p.Object == "" || p.Message == "" {
				t.Errorf("problem without object or message: %+v", p)
			}
		}
	})
}
