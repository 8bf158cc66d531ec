package plan

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Build is pure: the package imports nothing that talks to a cluster, a
// repository or the file system. (Its dependency resources does, for its
// own collector; the plan only uses its types.)
func TestImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"errors", "fmt", "sort", "strings", "slices", "time",
		"k8s.io/api/", "k8s.io/apimachinery/",
		"github.com/quiesce-dev/quiesce/api/", "github.com/quiesce-dev/quiesce/hook", "github.com/quiesce-dev/quiesce/resources",
		"github.com/quiesce-dev/quiesce/internal/workload"}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			ok := false
			for _, a := range allowed {
				ok = ok || p == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(p, a))
			}
			if !ok {
				t.Errorf("%s imports %s: the plan must stay pure (no I/O, no API client)", f, p)
			}
		}
	}
}
