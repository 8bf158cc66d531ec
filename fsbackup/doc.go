// Package fsbackup backs up and restores one volume directory with kopia used
// as a library. It is the only quiesce package that imports kopia: callers see
// Engine, Source, Result and Progress, never a kopia type.
//
// Defaults chosen for a long-running agent rather than a CLI:
//   - kopia's fatal-error handler (which calls os.Exit) is replaced by one that
//     records the error and fails every later call on the Engine;
//   - opening never waits on a repository upgrade lock (DoNotWaitForUpgrade) and
//     honours the caller's context deadline;
//   - the global policy keeps every snapshot and the engine never applies kopia
//     retention: quiesce owns retention (Engine.Expire);
//   - snapshot sources are stable (Source), not the pod-UID host path, so
//     incremental backups survive rescheduling;
//   - file errors: a file that vanished during the backup is reported and
//     ignored; any other read error (permission denied, I/O error) fails the
//     volume. FileErrorPolicy changes that.
//
// Restore keeps contents, modes, owners, file mtimes, symlinks and empty
// directories. Directory mtimes are not kept: kopia records a directory's
// mtime as the newest mtime in its subtree.
package fsbackup
