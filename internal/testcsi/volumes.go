package testcsi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// ErrNoVolume: no volume of that id on this node.
var ErrNoVolume = errors.New("no such volume")

// ErrBadID: a volume id that cannot name a directory.
var ErrBadID = errors.New("invalid volume id")

// ids are what the external-provisioner makes (<prefix>-<uuid>): a single
// path element, so an id can never reach outside the store.
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$`)

// Store keeps volumes as directories under Dir.
type Store struct{ Dir string }

// Path is the directory of volume id.
func (s Store) Path(id string) (string, error) {
	if !idPattern.MatchString(id) || id == "." || id == ".." {
		return "", fmt.Errorf("volume %q: %w", id, ErrBadID)
	}
	return filepath.Join(s.Dir, id), nil
}

// Create makes volume id; creating one that exists is a success (CSI's
// CreateVolume is idempotent). World-writable, as a fresh filesystem's root
// is for its owner: the pods' users differ (databases run as their own).
func (s Store) Create(id string) error {
	p, err := s.Path(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p, 0o777); err != nil {
		return fmt.Errorf("volume %s: %w", id, err)
	}
	if err := os.Chmod(p, 0o777); err != nil { // past the umask
		return fmt.Errorf("volume %s: %w", id, err)
	}
	return nil
}

// Exists reports whether volume id is on this node.
func (s Store) Exists(id string) (bool, error) {
	p, err := s.Path(id)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("volume %s: %w", id, err)
	}
	return fi.IsDir(), nil
}

// Delete removes volume id and its data; a missing one is a success.
func (s Store) Delete(id string) error {
	p, err := s.Path(id)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("volume %s: %w", id, err)
	}
	return nil
}
