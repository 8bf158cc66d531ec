package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/resources"
)

func item(group, version, resource, kind, ns, name string) resources.Item {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(version)
	o.SetKind(kind)
	o.SetName(name)
	o.SetNamespace(ns)
	return resources.Item{Group: group, Version: version, Resource: resource, Kind: kind, Namespaced: ns != "", Object: o}
}

func TestDescribeStoredObjects(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rf repoFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	rf.add(fs)
	if err := fs.Parse([]string{"--repo", filepath.Join(dir, "repo"), "--cache-dir", filepath.Join(dir, "cache"), "--password-file", pw}); err != nil {
		t.Fatal(err)
	}
	cfg, err := rf.config()
	if err != nil {
		t.Fatal(err)
	}
	e, err := fsbackup.Create(t.Context(), cfg, fsbackup.Format{})
	if err != nil {
		t.Fatal(err)
	}
	doc := &resources.Document{
		Backup:      api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"}},
		CollectedAt: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC),
		Items: []resources.Item{
			item("", "v1", "namespaces", "Namespace", "", "shop"),
			item("apps", "v1", "deployments", "Deployment", "shop", "api"),
			item("apps", "v1", "deployments", "Deployment", "shop", "web"),
		},
		Warnings: []string{"roles.rbac.authorization.k8s.io: not stored: forbidden"},
	}
	if err := (&resources.RepoStore{Engine: e}).Save(t.Context(), doc); err != nil {
		t.Fatal(err)
	}
	_ = e.Close(context.WithoutCancel(t.Context()))

	var out bytes.Buffer
	if err := describeStoredObjects(t.Context(), &out, &rf, "b1"); err != nil {
		t.Fatal(err)
	}
	want := `
Objects (3, collected 2026-11-26T02:00:00Z):
  namespaces (1): shop
  deployments.apps (2): shop/api, shop/web
  warning: roles.rbac.authorization.k8s.io: not stored: forbidden
`
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if err := describeStoredObjects(t.Context(), &out, &rf, "older"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "none stored: backup older has no stored resources") {
		t.Fatalf("output for a backup without objects: %q", out.String())
	}

	out.Reset()
	if err := describeStoredObjects(t.Context(), &out, &repoFlags{}, "b1"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--repo PATH") || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("output without a repository: %q, want one line naming --repo", out.String())
	}
}
