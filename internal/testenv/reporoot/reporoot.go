// Package reporoot finds the repository's root from a test's working
// directory. Its own package, with no dependencies, so test helpers that
// must not pull in containerd (testenv does) can use it.
package reporoot

import (
	"errors"
	"os"
	"path/filepath"
)

// Find is the directory holding go.mod above the working directory (a test
// runs in its package's directory).
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
