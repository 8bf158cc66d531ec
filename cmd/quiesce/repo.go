package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/render"
)

// repoFlags are shared by `quiesce repo` and `quiesce fs`.
type repoFlags struct {
	path, passwordFile, cacheDir, configFile, client string
	s3CAFile                                         string
	cacheSizeMB, contentCacheMB                      int64
	uploadLimitMBps                                  float64
	s3                                               fsbackup.S3
}

func (f *repoFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "repo", "", "repository path (filesystem)")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the repository password (else $"+fsbackup.PasswordEnv+")")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "kopia cache and connection directory (default $XDG_CACHE_HOME/quiesce)")
	fs.StringVar(&f.configFile, "config-file", "", "kopia connection file (default CACHE_DIR/repository.config)")
	fs.Int64Var(&f.cacheSizeMB, "cache-size-mb", 256, "size bound of the metadata cache")
	fs.Int64Var(&f.contentCacheMB, "content-cache-mb", 0, "size bound of the file-data cache (0: no data cache)")
	fs.StringVar(&f.client, "client", "", "this client's user@host (default quiesce@HOSTNAME)")
	fs.Float64Var(&f.uploadLimitMBps, "upload-limit-mbps", 0, "throttle writes to storage, MB/s (0: none)")
	fs.StringVar(&f.s3.Bucket, "s3-bucket", "", "S3 bucket (instead of --repo)")
	fs.StringVar(&f.s3.Endpoint, "s3-endpoint", "s3.amazonaws.com", "S3 endpoint host[:port]")
	fs.StringVar(&f.s3.Prefix, "s3-prefix", "", "object name prefix in the bucket")
	fs.StringVar(&f.s3.Region, "s3-region", "", "S3 region")
	fs.BoolVar(&f.s3.DisableTLS, "s3-disable-tls", false, "plain HTTP to the endpoint")
	fs.BoolVar(&f.s3.InsecureSkipVerify, "s3-insecure-skip-verify", false, "do not verify the endpoint's certificate")
	fs.StringVar(&f.s3CAFile, "s3-ca-file", "", "PEM file of the CA that signed the endpoint's certificate (default: the system's roots)")
}

func (f *repoFlags) config() (fsbackup.Config, error) {
	pw, err := fsbackup.LoadPassword(f.passwordFile)
	if err != nil {
		return fsbackup.Config{}, err
	}
	var s3 *fsbackup.S3
	if f.s3.Bucket != "" {
		s3 = &f.s3
		// Credentials come from the environment only, never from flags.
		s3.AccessKeyID, s3.SecretAccessKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if f.s3CAFile != "" {
			// Read at every start: a CA renewed in its ConfigMap or Secret
			// reaches the agent when it restarts.
			ca, err := os.ReadFile(f.s3CAFile)
			if err != nil {
				return fsbackup.Config{}, fmt.Errorf("--s3-ca-file: %w", err)
			}
			if len(ca) == 0 {
				return fsbackup.Config{}, fmt.Errorf("--s3-ca-file %s is empty (mount the CA's PEM certificate there)", f.s3CAFile)
			}
			s3.CA = ca
		}
	}
	return fsbackup.Config{
		S3: s3, Path: f.path, Password: pw, CacheDir: f.cacheDir, ConfigFile: f.configFile, Client: f.client,
		CacheSizeBytes: f.cacheSizeMB << 20, ContentCacheBytes: f.contentCacheMB << 20, UploadBytesPerSecond: f.uploadLimitMBps * 1e6,
	}, nil
}

func (f *repoFlags) open(ctx context.Context) (*fsbackup.Engine, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	return fsbackup.Open(ctx, cfg)
}

func newRepoCommand() *cobra.Command {
	rf := &repoFlags{}
	cmd := &cobra.Command{Use: "repo", Short: "Create, connect and maintain a kopia repository"}
	rf.add(cmd.PersistentFlags())
	cmd.AddCommand(newRepoInitCommand(rf), newRepoConnectCommand(rf), newRepoStatusCommand(rf),
		newRepoMaintenanceCommand(rf))
	return cmd
}

func newRepoInitCommand(rf *repoFlags) *cobra.Command {
	var f fsbackup.Format
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repository (keeps every snapshot: quiesce owns retention)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := rf.config()
			if err != nil {
				return err
			}
			e, err := fsbackup.Create(cmd.Context(), cfg, f)
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			return printStatus(cmd.Context(), cmd.OutOrStdout(), e)
		},
	}
	cmd.Flags().StringVar(&f.Hash, "hash", "", "content hash (default BLAKE3-256-128)")
	cmd.Flags().StringVar(&f.Encryption, "encryption", "", "encryption (default AES256-GCM-HMAC-SHA256)")
	cmd.Flags().StringVar(&f.Splitter, "splitter", "", "object splitter (default FIXED-4M)")
	cmd.Flags().StringVar(&f.MaintenanceOwner, "maintenance-owner", fsbackup.DefaultMaintenanceOwner,
		"the only identity allowed to run maintenance")
	return cmd
}

func newRepoConnectCommand(rf *repoFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "connect",
		Short: "Connect to an existing repository (writes the connection file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := rf.config()
			if err != nil {
				return err
			}
			e, err := fsbackup.Connect(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			return printStatus(cmd.Context(), cmd.OutOrStdout(), e)
		},
	}
}

func newRepoStatusCommand(rf *repoFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the repository's format, maintenance owner and snapshot count",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			return printStatus(cmd.Context(), cmd.OutOrStdout(), e)
		},
	}
}

func printStatus(ctx context.Context, w io.Writer, e *fsbackup.Engine) error {
	st, err := e.Status(ctx)
	if err != nil {
		return err
	}
	snaps, err := e.Snapshots(ctx, nil)
	if err != nil {
		return err
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "repository:        %s\nconnection:        %s\ncache:             %s\nclient:            %s\n",
		st.Path, st.ConfigFile, st.CacheDir, st.Client)
	fmt.Fprintf(w, "format:            hash %s, encryption %s, splitter %s\n", st.Hash, st.Encryption, st.Splitter)
	fmt.Fprintf(w, "maintenance owner: %s (last run: %s; next quick: %s, full: %s)\nsnapshots:         %d\n",
		st.MaintenanceOwner, when(st.LastMaintenance), when(st.NextQuickMaintenance), when(st.NextFullMaintenance), len(snaps))
	return nil
}

func newRepoMaintenanceCommand(rf *repoFlags) *cobra.Command {
	var full bool
	var owner string
	var expire bool
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Run quick (or --full) maintenance; only the maintenance owner may",
		Long: "Maintenance compacts indexes and (full) deletes unreferenced data. It is safe while backups run.\n" +
			"kopia's maintenance lock is a local file, so run it from one place only, as the owner identity.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			if expire {
				ids, err := e.Expire(cmd.Context(), time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "expired %d snapshots\n", len(ids))
			}
			start := time.Now()
			if err := e.Maintenance(cmd.Context(), owner, full); err != nil {
				return err
			}
			mode := "quick"
			if full {
				mode = "full"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s maintenance done in %s\n", mode, render.Duration(time.Since(start)))
			return nil
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "full maintenance: also delete unreferenced data")
	cmd.Flags().StringVar(&owner, "owner", fsbackup.DefaultMaintenanceOwner, "maintenance identity")
	cmd.Flags().BoolVar(&expire, "expire", true, "first delete snapshots past their TTL")
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
