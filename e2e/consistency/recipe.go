package consistency

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hook/lint"
)

// Recipe is a workload's backup hooks as quiesce resolves them from a
// manifest, and its database container's literal environment (what a hook
// run in that container sees).
type Recipe struct {
	Name      string
	File      string
	Pre, Post []hook.Hook
	Env       map[string]string
}

// LoadRecipe resolves the hooks of StatefulSet name in file with quiesce's
// own hook model (lint.Lint: the annotations, Velero's or ours), and fails
// on any problem lint reports for it.
func LoadRecipe(name, file, statefulSet string) (Recipe, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return Recipe{}, err
	}
	rep, err := lint.Lint(bytes.NewReader(raw))
	if err != nil {
		return Recipe{}, fmt.Errorf("recipe %s: lint %s: %w", name, file, err)
	}
	r := Recipe{Name: name, File: file, Env: map[string]string{}}
	var found bool
	var container string
	for _, res := range rep.Resolved {
		if res.With != "" || !strings.HasPrefix(res.Object, "statefulset ") || !strings.HasSuffix(res.Object, "/"+statefulSet) {
			continue
		}
		found = true
		for _, h := range res.Hooks {
			switch h.Phase {
			case hook.PreBackup:
				r.Pre = append(r.Pre, h)
			case hook.PostBackup:
				r.Post = append(r.Post, h)
			}
			container = h.Container
		}
	}
	for _, p := range rep.Problems {
		if strings.HasSuffix(p.Object, "/"+statefulSet) {
			return r, fmt.Errorf("recipe %s: %s", name, p)
		}
	}
	if !found {
		return r, fmt.Errorf("recipe %s: no StatefulSet %q in %s", name, statefulSet, file)
	}
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		var ss appsv1.StatefulSet
		if yaml.Unmarshal(doc, &ss) != nil || ss.Kind != "StatefulSet" || ss.Name != statefulSet {
			continue
		}
		for _, c := range ss.Spec.Template.Spec.Containers {
			if c.Name != container && container != "" {
				continue
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					r.Env[e.Name] = e.Value
				}
			}
			break
		}
	}
	return r, nil
}
