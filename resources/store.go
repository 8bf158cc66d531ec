package resources

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup"
)

// RepoStore keeps Documents in a kopia repository, one per backup, as
// gzip'd JSON (readable with `kopia show` and gunzip too).
type RepoStore struct {
	Engine *fsbackup.Engine
}

// Save stores doc under doc.Backup.Name, stamping FormatVersion. The
// repository drops it when the Backup's status.expiration passes.
func (s *RepoStore) Save(ctx context.Context, doc *Document) error {
	if doc.Backup.Name == "" {
		return errors.New("store resources: the document's backup has no name")
	}
	doc.FormatVersion = FormatVersion
	data, err := Encode(doc)
	if err != nil {
		return fmt.Errorf("backup %s: %w", doc.Backup.Name, err)
	}
	var exp time.Time // kept until the backup's last snapshot expires
	if e := doc.Backup.Status.Expiration; e != nil {
		exp = e.Time
	}
	return s.Engine.PutResourcesExpiring(ctx, doc.Backup.Name, data, exp)
}

// Load reads the Document of backupName. The error wraps
// fsbackup.ErrNoResources when the repository holds none.
func (s *RepoStore) Load(ctx context.Context, backupName string) (*Document, error) {
	data, err := s.Engine.Resources(ctx, backupName)
	if err != nil {
		return nil, err
	}
	doc, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("stored resources of backup %s: %w", backupName, err)
	}
	return doc, nil
}

// Encode returns doc as gzip'd JSON.
func Encode(doc *Document) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(doc); err != nil {
		return nil, fmt.Errorf("encode resources: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode resources: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reads what Encode wrote and checks its format version.
func Decode(data []byte) (*Document, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not gzip'd JSON: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	var doc Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if doc.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("format version %d, this quiesce reads version %d (use a quiesce release that matches the backup)",
			doc.FormatVersion, FormatVersion)
	}
	if doc.Pods == nil {
		// Stored before the report left the Backup's status: its pods are
		// in the stored status.
		var old struct {
			Backup struct {
				Status struct {
					Pods []api.PodResult `json:"pods"`
				} `json:"status"`
			} `json:"backup"`
		}
		if err := json.Unmarshal(raw, &old); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		doc.Pods = old.Backup.Status.Pods
	}
	return &doc, nil
}
