// Package mountinfo reads a mount namespace's mount table
// (/proc/<pid>/mountinfo, proc(5)) and answers which paths are mount points
// in that view. A container sees its own namespace's table: a mount the
// host made after the container started appears in it only through mount
// propagation, which is what the agent checks before reading a volume.
package mountinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Self is the mount table of the calling process's mount namespace.
const Self = "/proc/self/mountinfo"

// ErrMalformed: a line of the table does not have mountinfo's shape.
var ErrMalformed = errors.New("malformed mountinfo line")

// Mount is one line of the table.
type Mount struct {
	ID, Parent int
	// Root is the directory of the source filesystem mounted here ("/" for
	// a whole filesystem, the source directory for a bind mount).
	Root       string
	MountPoint string
	// Optional holds the propagation fields (shared:N, master:N, ...).
	Optional []string
	FSType   string
	Source   string
}

// Table is a mount table in the kernel's order: a later mount on the same
// path covers an earlier one.
type Table []Mount

// Read parses the table at path (Self for the caller's own view).
func Read(path string) (Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mount table: %w", err)
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("mount table %s: %w", path, err)
	}
	return t, nil
}

// Parse reads mountinfo lines:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// ID, parent, major:minor, root, mount point, options, optional fields up
// to "-", then filesystem type, source and super options.
func Parse(r io.Reader) (Table, error) {
	var t Table
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024) // paths can be long
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n, line, err)
		}
		t = append(t, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

func parseLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) < sep+3 {
		return Mount{}, fmt.Errorf("%w: want 6 fields, optional fields, \"-\", type and source", ErrMalformed)
	}
	id, err1 := strconv.Atoi(f[0])
	parent, err2 := strconv.Atoi(f[1])
	if err := errors.Join(err1, err2); err != nil {
		return Mount{}, fmt.Errorf("%w: mount ids: %w", ErrMalformed, err)
	}
	return Mount{ID: id, Parent: parent, Root: unescape(f[3]), MountPoint: unescape(f[4]),
		Optional: f[6:sep], FSType: f[sep+1], Source: unescape(f[sep+2])}, nil
}

// unescape undoes the kernel's octal escapes of space, tab, newline and
// backslash (\040, \011, \012, \134) in paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Lookup returns the mount on exactly path, the last one when several are
// stacked (the one a reader of path sees).
func (t Table) Lookup(path string) (Mount, bool) {
	path = filepath.Clean(path)
	for i := len(t) - 1; i >= 0; i-- {
		if t[i].MountPoint == path {
			return t[i], true
		}
	}
	return Mount{}, false
}

// IsMountPoint reports whether something is mounted on exactly path.
func (t Table) IsMountPoint(path string) bool {
	_, ok := t.Lookup(path)
	return ok
}
