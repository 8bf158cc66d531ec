package hook

import (
	"regexp"
	"strings"
)

// brokenRecipe is a database hook users copy that runs without error and
// still backs up inconsistent data (or fails only at backup time).
type brokenRecipe struct {
	// match reports whether the hook is the recipe; cmd is its command
	// joined, lower case, with runs of spaces as one.
	match   func(h Hook, cmd string) bool
	message string
	fix     string
}

var (
	pgExclusive = regexp.MustCompile(`\bpg_(start|stop)_backup\b`)
	globalLock  = regexp.MustCompile(`\b(flush tables with read lock|backup stage)\b`)
	bgsave      = regexp.MustCompile(`\bbgsave\b`)
	// Waiting for the background save: polling LASTSAVE or INFO persistence.
	bgsaveWait = regexp.MustCompile(`\b(lastsave|persistence|rdb_bgsave_in_progress)\b`)
)

var brokenRecipes = []brokenRecipe{
	{
		match: func(_ Hook, cmd string) bool { return pgExclusive.MatchString(cmd) },
		message: "pg_start_backup/pg_stop_backup no longer exist in PostgreSQL 15 (the hook fails), and before 15 " +
			"a one-shot psql ends the backup mode as it exits, so the copy is taken outside it",
		fix: "run psql as a held pre-hook (mode: Hold) that calls pg_backup_start and, once released, " +
			"pg_backup_stop and writes its backup_label: see examples/databases/postgres",
	},
	{
		match: func(h Hook, cmd string) bool { return h.Mode != Hold && globalLock.MatchString(cmd) },
		message: "the lock ends with the client's session, and a one-shot client exits before the capture: " +
			"the copy is taken with writes going on",
		fix: "keep the session open for the capture: mode: Hold with the client reading its stdin, " +
			"released after the capture: see examples/databases/mariadb",
	},
	{
		match: func(h Hook, cmd string) bool {
			return h.Phase == PreBackup && bgsave.MatchString(cmd) && !bgsaveWait.MatchString(cmd)
		},
		message: "BGSAVE returns at once and writes the dump in the background: the capture may copy " +
			"the previous dump, or none",
		fix: "use SAVE, or wait until LASTSAVE changes after BGSAVE: see examples/databases/redis",
	},
}

// KnownBroken lists the hooks of object that are database recipes known to
// look right and not be: users copy them from older documentation, and
// they either fail only at backup time or back up inconsistent data
// without an error. `hooks lint` reports them as warnings; the coordinator
// logs them and records an Event on the Backup.
func KnownBroken(object string, hooks []Hook) []Problem {
	var out []Problem
	for _, h := range hooks {
		cmd := strings.Join(strings.Fields(strings.ToLower(strings.Join(h.Command, " "))), " ")
		for _, r := range brokenRecipes {
			if !r.match(h, cmd) {
				continue
			}
			field := h.Source.Ref
			if h.Source.Kind == "annotation" {
				field = annField(h.Source.Ref)
			}
			out = append(out, Problem{Object: object, Field: field, Value: strings.Join(h.Command, " "), Message: r.message, Fix: r.fix})
		}
	}
	return out
}
