package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/fsbackup/staging"
	"github.com/quiesce-dev/quiesce/internal/render"
)

func newFsCommand() *cobra.Command {
	rf := &repoFlags{}
	cmd := &cobra.Command{Use: "fs", Short: "Back up, list, restore and verify one directory (for use and measurement)"}
	rf.add(cmd.PersistentFlags())
	cmd.AddCommand(newFsBackupCommand(rf), newFsSnapshotsCommand(rf), newFsRestoreCommand(rf), newFsVerifyCommand(rf))
	return cmd
}

// fsBackupOutput is what `fs backup --json` prints.
type fsBackupOutput struct {
	Result         fsbackup.Result `json:"result"`
	Capture        *staging.Copy   `json:"capture,omitempty"`
	CaptureSeconds float64         `json:"captureSeconds,omitempty"`
	UploadSeconds  float64         `json:"uploadSeconds"`
}

func newFsBackupCommand(rf *repoFlags) *cobra.Command {
	var (
		source, stagingDir, compression, onFileError string
		tags                                         []string
		ttl                                          time.Duration
		staged, asJSON, progress, fullCompare        bool
		keepStaging                                  bool
		parallel                                     int
		blockLayoutMin                               int64
	)
	cmd := &cobra.Command{
		Use:   "backup DIR",
		Short: "Snapshot DIR (incremental to the previous snapshot of the same --source)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			src, err := backupSource(source, dir)
			if err != nil {
				return err
			}
			opt := fsbackup.BackupOptions{Source: src, Tags: map[string]string{}}
			for _, t := range tags {
				k, v, ok := strings.Cut(t, "=")
				if !ok || k == "" {
					return fmt.Errorf("--tag %q: want key=value", t)
				}
				opt.Tags[k] = v
			}
			if ttl > 0 {
				opt.ExpiresAt = time.Now().Add(ttl)
			}
			policy, err := parseFileErrorPolicy(onFileError)
			if err != nil {
				return err
			}
			e, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			e.FileErrors, e.Compression, e.BlockLayoutMin = policy, compression, blockLayoutMin
			if parallel > 0 {
				e.Parallel = parallel
			}
			if progress {
				e.Progress = fsbackup.ProgressFunc(func(u fsbackup.ProgressUpdate) { printProgress(cmd.ErrOrStderr(), u) })
			}
			var out fsBackupOutput
			if staged {
				if stagingDir == "" {
					return fmt.Errorf("--staged needs --staging-dir")
				}
				start := time.Now()
				c, err := fsbackup.Capture(cmd.Context(), dir, stagingDir, staging.Options{FullCompare: fullCompare})
				if err != nil {
					return err
				}
				out.Capture, out.CaptureSeconds = &c, time.Since(start).Seconds()
			}
			start := time.Now()
			if staged {
				out.Result, err = e.Upload(cmd.Context(), stagingDir, opt)
			} else {
				out.Result, err = e.Backup(cmd.Context(), dir, opt)
			}
			out.UploadSeconds = time.Since(start).Seconds()
			if staged && err == nil && !keepStaging {
				err = staging.Remove(stagingDir)
			}
			if asJSON {
				if perr := printJSON(cmd.OutOrStdout(), out); perr != nil && err == nil {
					err = perr
				}
				return err
			}
			printBackup(cmd.OutOrStdout(), out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "stable identity namespace/workload/volume (default local/HOSTNAME/BASENAME)")
	f.StringArrayVar(&tags, "tag", nil, "snapshot tag key=value (repeatable)")
	f.DurationVar(&ttl, "ttl", 0, "expire the snapshot after this long (0: never)")
	f.BoolVar(&staged, "staged", false, "capture into --staging-dir first, then upload the staged copy")
	f.StringVar(&stagingDir, "staging-dir", "", "staging directory of this volume (kept for the next incremental capture)")
	f.BoolVar(&keepStaging, "keep-staging", true, "keep the staged copy for the next incremental capture")
	f.BoolVar(&fullCompare, "full-compare", false, "staged: compare file contents, not only metadata")
	f.StringVar(&compression, "compression", "", "compressor override (none, zstd-fastest, s2-default, ...)")
	f.StringVar(&onFileError, "on-file-error", "ignore-vanished", "ignore-vanished, fail or ignore")
	f.IntVar(&parallel, "parallel", 0, "files read at once (default CPU count)")
	f.Int64Var(&blockLayoutMin, "block-layout-min", 0, "store files of at least this many bytes in 16 KiB blocks (0: 512 MiB, -1: never)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.BoolVar(&progress, "progress", false, "print progress to stderr")
	return cmd
}

func backupSource(flag, dir string) (fsbackup.Source, error) {
	if flag != "" {
		return fsbackup.ParseSource(flag)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fsbackup.Source{}, err
	}
	host, _ := os.Hostname()
	return fsbackup.Source{Namespace: "local", Workload: host, Volume: filepath.Base(abs)}, nil
}

func parseFileErrorPolicy(s string) (fsbackup.FileErrorPolicy, error) {
	switch s {
	case "ignore-vanished", "":
		return fsbackup.IgnoreVanished, nil
	case "fail":
		return fsbackup.FailOnAny, nil
	case "ignore":
		return fsbackup.IgnoreAll, nil
	}
	return 0, fmt.Errorf("--on-file-error %q: use ignore-vanished, fail or ignore", s)
}

func printProgress(w io.Writer, u fsbackup.ProgressUpdate) {
	pct := 0.0
	if u.BytesEstimated > 0 {
		pct = 100 * float64(u.BytesDone) / float64(u.BytesEstimated)
	}
	fmt.Fprintf(w, "%s: %d/%d files, %s/%s (%.0f%%), uploaded %s, %d errors\n", u.Source, u.FilesDone, u.FilesEstimated,
		render.Bytes(u.BytesDone), render.Bytes(u.BytesEstimated), pct, render.Bytes(u.BytesUploaded), u.FileErrors)
}

func printBackup(w io.Writer, o fsBackupOutput) {
	if c := o.Capture; c != nil {
		fmt.Fprintf(w, "captured %d files (%s) into %s in %s: copied %d (%s, %d reflinked), removed %d, %s free\n",
			c.Files, render.Bytes(c.Bytes), c.Dir, render.Duration(time.Duration(o.CaptureSeconds*float64(time.Second))), c.CopiedFiles, render.Bytes(c.CopiedBytes), c.Reflinked, c.Removed, render.Bytes(c.FreeBytes))
	}
	r := o.Result
	for _, fe := range r.FileErrors {
		kind := "unreadable"
		if fe.Vanished {
			kind = "vanished"
		}
		fmt.Fprintf(w, "file %s: %s: %s\n", kind, fe.Path, fe.Reason)
	}
	if r.SnapshotID == "" {
		return
	}
	var rate int64
	if s := r.Duration.Seconds(); s > 0 {
		rate = int64(float64(r.BytesRead) / s)
	}
	fmt.Fprintf(w, "snapshot %s of %s: %d files, %d dirs, %s (hashed %s, uploaded %s, %d unchanged) in %s (%s/s)\n",
		r.SnapshotID, r.Source, r.Files, r.Dirs, render.Bytes(r.BytesRead), render.Bytes(r.BytesHashed), render.Bytes(r.BytesUploaded), r.CachedFiles,
		render.Duration(r.Duration), render.Bytes(rate))
}

func newFsSnapshotsCommand(rf *repoFlags) *cobra.Command {
	var source string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots (all sources, or --source)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var src *fsbackup.Source
			if source != "" {
				s, err := fsbackup.ParseSource(source)
				if err != nil {
					return err
				}
				src = &s
			}
			e, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			snaps, err := e.Snapshots(cmd.Context(), src)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), snaps)
			}
			w := cmd.OutOrStdout()
			for _, s := range snaps {
				exp := ""
				if !s.ExpiresAt.IsZero() {
					exp = " expires " + s.ExpiresAt.Format(time.RFC3339)
				}
				var tags []string
				for k, v := range s.Tags {
					tags = append(tags, k+"="+v)
				}
				fmt.Fprintf(w, "%s  %s  %s  %d files  %s%s  %s\n", s.ID, s.StartTime.Format(time.RFC3339), s.Source,
					s.Files, render.Bytes(s.Bytes), exp, strings.Join(tags, ","))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "only this namespace/workload/volume")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newFsRestoreCommand(rf *repoFlags) *cobra.Command {
	var opt fsbackup.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT DIR",
		Short: "Restore a snapshot into DIR (empty or missing unless --overwrite)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			r, err := e.Restore(cmd.Context(), args[0], args[1], opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d files, %d dirs, %d symlinks (%s) into %s in %s; deleted %d\n",
				r.Files, r.Dirs, r.Symlinks, render.Bytes(r.Bytes), args[1], render.Duration(r.Duration), r.Deleted)
			return nil
		},
	}
	cmd.Flags().BoolVar(&opt.Overwrite, "overwrite", false, "make a non-empty DIR equal to the snapshot (replaces and deletes)")
	cmd.Flags().BoolVar(&opt.SkipOwners, "skip-owners", false, "do not restore ownership")
	return cmd
}

func newFsVerifyCommand(rf *repoFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify SNAPSHOT",
		Short: "Re-read every file of a snapshot from storage (bypassing the cache) and report corruption",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := rf.config()
			if err != nil {
				return err
			}
			// A fresh cache: verify must read storage, not what the cache remembers.
			tmp, err := os.MkdirTemp("", "quiesce-verify-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			cfg.CacheDir, cfg.ConfigFile, cfg.ReadOnly = tmp, "", true
			e, err := fsbackup.Open(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			r, err := e.Verify(cmd.Context(), args[0])
			for _, s := range r.Errors {
				fmt.Fprintln(cmd.ErrOrStderr(), "error:", s)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "snapshot %s: %d files, %s read back, no errors\n", args[0], r.Files, render.Bytes(r.Bytes))
			return nil
		},
	}
}
