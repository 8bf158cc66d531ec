package hook

import (
	"strings"
	"testing"
)

// The recipes users copy from older documentation are named, with the fix;
// the held forms of the examples are not.
func TestKnownBroken(t *testing.T) {
	ann := Source{Kind: "annotation", Ref: "pre.hook.backup.velero.io/command"}
	sh := func(s string) []string { return []string{"/bin/sh", "-c", s} }
	cases := []struct {
		name string
		h    Hook
		want string // "" when not broken
	}{
		{"pg exclusive", Hook{Phase: PreBackup, Source: ann, Command: sh(`psql -c "SELECT pg_start_backup('quiesce', true)"`)}, "PostgreSQL 15"},
		{"pg stop", Hook{Phase: PostBackup, Source: ann, Command: sh(`psql -c "select PG_STOP_BACKUP()"`)}, "PostgreSQL 15"},
		{"pg held", Hook{Phase: PreBackup, Mode: Hold, Source: ann, Command: sh(`psql -c "SELECT pg_backup_start('q', true)"`)}, ""},
		{"ftwrl one-shot", Hook{Phase: PreBackup, Source: ann, Command: sh(`mysql -e "FLUSH  TABLES WITH READ LOCK"`)}, "ends with the client's session"},
		{"backup stage one-shot", Hook{Phase: PreBackup, Source: ann, Command: sh(`mariadb -e "BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT"`)}, "ends with the client's session"},
		{"ftwrl held", Hook{Phase: PreBackup, Mode: Hold, Source: ann, Command: sh(`mariadb -e "FLUSH TABLES WITH READ LOCK"`)}, ""},
		{"bgsave", Hook{Phase: PreBackup, Source: ann, Command: []string{"redis-cli", "BGSAVE"}}, "BGSAVE returns at once"},
		{"bgsave waited", Hook{Phase: PreBackup, Source: ann, Command: sh(`t=$(redis-cli LASTSAVE); redis-cli BGSAVE; while [ "$(redis-cli LASTSAVE)" = "$t" ]; do sleep 0.1; done`)}, ""},
		{"save", Hook{Phase: PreBackup, Source: ann, Command: []string{"redis-cli", "SAVE"}}, ""},
	}
	for _, c := range cases {
		got := KnownBroken("pod shop/db-0", []Hook{c.h})
		switch {
		case c.want == "" && len(got) != 0:
			t.Errorf("%s: flagged: %v", c.name, got)
		case c.want != "" && (len(got) != 1 || !strings.Contains(got[0].String(), c.want)):
			t.Errorf("%s: %v, want one warning containing %q", c.name, got, c.want)
		case c.want != "" && !strings.HasPrefix(got[0].String(), `pod shop/db-0: annotation "pre.hook.backup.velero.io/command"=`) || c.want != "" && got[0].Fix == "":
			t.Errorf("%s: %q: want the object, the annotation and a fix", c.name, got[0])
		}
	}
}
