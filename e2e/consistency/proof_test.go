package consistency

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLocalProof runs every recipe's cycles against real servers; set
// QUIESCE_DBPROOF=1 (as root), QUIESCE_DBPROOF_CYCLES (default 5),
// QUIESCE_DBPROOF_ONLY (a substring of recipe names) and
// QUIESCE_DBPROOF_OUT (a file for the Markdown table).
func TestLocalProof(t *testing.T) {
	if os.Getenv(proofEnv) != "1" {
		t.Skipf("local database proof: set %s=1 (as root, with postgresql-15, mariadb-server, redis-server installed)", proofEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the database proof runs servers as their Debian users: run it as root")
	}
	n := 5
	if v, err := strconv.Atoi(os.Getenv(proofEnv + "_CYCLES")); err == nil {
		n = v
	}
	ex := func(p string) string { return filepath.Join("..", "..", "examples", "databases", p) }
	recipes := []struct {
		db      string
		recipes []proofRecipe
		newDB   func(*testing.T, string) db
	}{
		{"postgres", []proofRecipe{
			{name: "postgres backup-mode (held pg_backup_start)", file: ex("postgres/statefulset.yaml"), statefulSet: "postgres"},
			{name: "postgres freeze (held lock + CHECKPOINT)", file: ex("postgres/statefulset-freeze.yaml"), statefulSet: "postgres-freeze"},
			{name: "postgres seed: Velero pg_start_backup", file: "testdata/seed-postgres.yaml", statefulSet: "postgres"},
			{name: "postgres control: no hooks"},
		}, newPostgres},
		{"mariadb", []proofRecipe{
			{name: "mariadb held FTWRL (InnoDB quiet)", file: ex("mariadb/statefulset.yaml"), statefulSet: "mariadb"},
			{name: "mariadb seed: one-shot FLUSH TABLES WITH READ LOCK", file: "testdata/seed-mariadb.yaml", statefulSet: "mariadb"},
			{name: "mariadb control: no hooks"},
		}, newMariaDB},
		{"redis", []proofRecipe{
			{name: "redis held write pause + BGSAVE", file: ex("redis/statefulset.yaml"), statefulSet: "redis"},
			{name: "redis seed: one-shot BGSAVE", file: "testdata/seed-redis.yaml", statefulSet: "redis"},
			{name: "redis control: no hooks"},
		}, newRedis},
	}
	only := os.Getenv(proofEnv + "_ONLY")
	var all []Cycle
	work := t.TempDir()
	// The servers run as their own users: they must reach their directories.
	for d := work; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range recipes {
		var live db
		for _, r := range d.recipes {
			if only != "" && !strings.Contains(r.name, only) {
				continue
			}
			if live == nil {
				live = d.newDB(t, filepath.Join(work, d.db))
			}
			all = append(all, runCycles(t, r, live, n, work)...)
		}
	}
	var b bytes.Buffer
	WriteTable(&b, Summarize(all))
	t.Log("\n" + b.String())
	if out := os.Getenv(proofEnv + "_OUT"); out != "" {
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
