package fsbackup

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	kfs "github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/repo/blob/filesystem"
	"github.com/kopia/kopia/repo/blob/s3"
	"github.com/kopia/kopia/repo/blob/throttling"
	"github.com/kopia/kopia/repo/content"
	"github.com/kopia/kopia/repo/format"
	"github.com/kopia/kopia/repo/maintenance"
	"github.com/kopia/kopia/snapshot/policy"
)

// PasswordEnv is the environment variable read when no password file is given.
const PasswordEnv = "QUIESCE_REPO_PASSWORD"

// DefaultMaintenanceOwner is the identity that owns maintenance unless the
// repository was created with another one. Agents never use it.
const DefaultMaintenanceOwner = "maintenance@quiesce"

// Config says where a repository is and how this process talks to it.
type Config struct {
	// Path of a filesystem repository (when S3 is nil).
	Path string
	// S3 selects an S3-compatible object store instead of Path.
	S3 *S3
	// Password encrypts the repository; required (see LoadPassword).
	Password string
	// ConfigFile keeps the kopia connection; default CacheDir/repository.config.
	ConfigFile string
	// CacheDir holds kopia's content and metadata caches; default
	// $XDG_CACHE_HOME/quiesce.
	CacheDir string
	// CacheSizeBytes bounds the metadata cache: indexes, directory listings,
	// manifests (default 256 MiB).
	CacheSizeBytes int64
	// ContentCacheBytes bounds the cache of file data (default 0: off).
	// Backups never read file data back and restores read it once, so
	// caching it only costs disk writes and sweeps (restore ran 10-25% slower
	// with a 256 MiB data cache).
	ContentCacheBytes int64
	// Client is this process's user@host, used only to label the connection;
	// snapshot sources come from Source. Default "quiesce@<hostname>".
	Client string
	// OpenTimeout bounds opening (format blob, indexes); default 2m.
	OpenTimeout time.Duration
	// UploadBytesPerSecond throttles writes to storage (0: unlimited). Used by
	// the benchmark to stand in for remote object storage.
	UploadBytesPerSecond float64
	// ReadOnly opens without a writer (restore, verify).
	ReadOnly bool
}

// S3 locates a repository in an S3-compatible bucket.
type S3 struct {
	Endpoint, Bucket, Prefix, Region string
	AccessKeyID, SecretAccessKey     string
	// DisableTLS talks plain HTTP (in-cluster gateways, tests).
	DisableTLS bool
	// InsecureSkipVerify accepts any server certificate.
	InsecureSkipVerify bool
	// CA is the PEM certificate authority (or bundle) the endpoint's
	// certificate must chain to; empty: the system's roots.
	CA []byte
}

func (s *S3) String() string { return "s3://" + s.Bucket + "/" + s.Prefix + " at " + s.Endpoint }

// LoadPassword returns the password from file (if set) or $QUIESCE_REPO_PASSWORD.
// It never falls back to a built-in password.
func LoadPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("password file %s: %w", file, err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("password file %s is empty: %w", file, ErrNoPassword)
		}
		return p, nil
	}
	if p := os.Getenv(PasswordEnv); p != "" {
		return p, nil
	}
	return "", ErrNoPassword
}

func (c Config) withDefaults() (Config, error) {
	if c.Password == "" {
		return c, ErrNoPassword
	}
	switch {
	case c.S3 != nil:
		if c.S3.Bucket == "" || c.S3.Endpoint == "" {
			return c, errors.New("s3 repository needs a bucket and an endpoint (set --s3-bucket and --s3-endpoint)")
		}
		// kopia reports an unparsable CA only as "cannot parse provided CA".
		if len(c.S3.CA) > 0 && !x509.NewCertPool().AppendCertsFromPEM(c.S3.CA) {
			return c, errors.New("s3 CA: no PEM certificate in it (give --s3-ca-file a PEM file with the CA that signed the endpoint's certificate)")
		}
		c.Path = c.S3.String()
	case c.Path == "":
		return c, errors.New("repository path is empty (set --repo PATH or --s3-bucket)")
	default:
		abs, err := filepath.Abs(c.Path)
		if err != nil {
			return c, fmt.Errorf("repository path %q: %w", c.Path, err)
		}
		c.Path = abs
	}
	if c.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		c.CacheDir = filepath.Join(d, "quiesce")
	}
	if c.ConfigFile == "" {
		c.ConfigFile = filepath.Join(c.CacheDir, "repository.config")
	}
	// kopia keeps these paths in the connection config and resolves them
	// itself: a relative cache directory panicked in its content cache and
	// put repository files in the working directory (issue 18).
	for _, p := range []*string{&c.CacheDir, &c.ConfigFile} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return c, fmt.Errorf("path %q: %w", *p, err)
		}
		*p = abs
	}
	if c.CacheSizeBytes == 0 {
		c.CacheSizeBytes = 256 << 20
	}
	if c.Client == "" {
		h, _ := os.Hostname()
		if h == "" {
			h = "node"
		}
		c.Client = "quiesce@" + h
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = 2 * time.Minute
	}
	return c, nil
}

func (c Config) clientOptions() repo.ClientOptions {
	user, host, _ := strings.Cut(c.Client, "@")
	o := repo.ClientOptions{Username: user, Hostname: host, ReadOnly: c.ReadOnly, Description: "quiesce"}
	if c.UploadBytesPerSecond > 0 {
		o.Throttling = &throttling.Limits{UploadBytesPerSecond: c.UploadBytesPerSecond}
	}
	return o
}

func (c Config) storage(ctx context.Context, create bool) (blob.Storage, error) {
	if c.S3 != nil {
		st, err := s3.New(ctx, &s3.Options{
			BucketName: c.S3.Bucket, Prefix: c.S3.Prefix, Endpoint: c.S3.Endpoint, Region: c.S3.Region,
			AccessKeyID: c.S3.AccessKeyID, SecretAccessKey: c.S3.SecretAccessKey,
			DoNotUseTLS: c.S3.DisableTLS, DoNotVerifyTLS: c.S3.InsecureSkipVerify, RootCA: c.S3.CA,
		}, create)
		if err != nil {
			return nil, classify(c.Path, err)
		}
		return st, nil
	}
	if _, err := os.Stat(c.Path); !create && errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("repository %s does not exist: %w", c.Path, ErrNotInitialized)
	}
	st, err := filesystem.New(ctx, &filesystem.Options{Path: c.Path}, create)
	if err != nil {
		return nil, fmt.Errorf("repository storage %s: %w", c.Path, err)
	}
	return st, nil
}

// Format chooses the hash, encryption and splitter of a new repository. The
// zero value picks the fastest choices measured by `make bench-fs`.
type Format struct {
	Hash, Encryption, Splitter string
	// MaintenanceOwner is the only identity allowed to run maintenance.
	MaintenanceOwner string
}

func (f Format) withDefaults() Format {
	if f.Hash == "" {
		f.Hash = "BLAKE3-256-128"
	}
	if f.Encryption == "" {
		f.Encryption = "AES256-GCM-HMAC-SHA256"
	}
	if f.Splitter == "" {
		// 2-3x faster than kopia's DYNAMIC-4M-BUZHASH (BenchmarkBackupFormats);
		// volumes are mostly rewritten in place (database pages) or appended
		// to, where fixed chunks deduplicate as well as content-defined ones.
		f.Splitter = "FIXED-4M"
	}
	if f.MaintenanceOwner == "" {
		f.MaintenanceOwner = DefaultMaintenanceOwner
	}
	return f
}

// Create initializes a new repository at cfg.Path, sets quiesce's global
// policy (keep every snapshot, s2-default compression) and the maintenance owner, and
// returns it opened.
func Create(ctx context.Context, cfg Config, f Format) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	f = f.withDefaults()
	st, err := cfg.storage(ctx, true)
	if err != nil {
		return nil, err
	}
	opt := &repo.NewRepositoryOptions{
		BlockFormat:  format.ContentFormat{Hash: f.Hash, Encryption: f.Encryption},
		ObjectFormat: format.ObjectFormat{Splitter: f.Splitter},
	}
	err = repo.Initialize(ctx, st, opt, cfg.Password)
	_ = st.Close(ctx)
	if errors.Is(err, repo.ErrAlreadyInitialized) {
		return nil, fmt.Errorf("repository %s: %w", cfg.Path, ErrAlreadyInitialized)
	}
	if kind, _ := storageCause(err); kind != nil {
		return nil, fmt.Errorf("initialize %w", storageError(cfg.Path, err))
	}
	if err != nil {
		return nil, fmt.Errorf("initialize repository %s: %w", cfg.Path, err)
	}
	e, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	err = repo.WriteSession(ctx, e.rep, repo.WriteSessionOptions{Purpose: "quiesce init"},
		func(ctx context.Context, w repo.RepositoryWriter) error {
			if err := policy.SetPolicy(ctx, w, policy.GlobalPolicySourceInfo, globalPolicy()); err != nil {
				return fmt.Errorf("set global policy: %w", err)
			}
			p := maintenance.DefaultParams()
			p.Owner = f.MaintenanceOwner
			if err := maintenance.SetParams(ctx, w, &p); err != nil {
				return fmt.Errorf("set maintenance owner: %w", err)
			}
			return nil
		})
	if err != nil {
		_ = e.Close(ctx)
		return nil, fmt.Errorf("repository %s: %w", cfg.Path, err)
	}
	return e, nil
}

// globalPolicy keeps everything: kopia's default keeps the latest 10 and some
// hourly/daily ones, and quiesce owns retention. Compression is s2-default:
// nearly the speed of none with most of zstd's savings (BenchmarkBackupFormats).
func globalPolicy() *policy.Policy {
	p := *policy.DefaultPolicy
	keep := policy.OptionalInt(1 << 30)
	zero := policy.OptionalInt(0)
	p.RetentionPolicy = policy.RetentionPolicy{
		KeepLatest: &keep, KeepHourly: &zero, KeepDaily: &zero, KeepWeekly: &zero,
		KeepMonthly: &zero, KeepAnnual: &zero,
	}
	p.CompressionPolicy = policy.CompressionPolicy{CompressorName: "s2-default"}
	return &p
}

// Connect writes the connection config for an existing repository and opens it.
func Connect(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := connect(ctx, cfg); err != nil {
		return nil, err
	}
	return open(ctx, cfg)
}

func connect(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.OpenTimeout)
	defer cancel()
	st, err := cfg.storage(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close(ctx) //nolint:errcheck // storage close only releases handles
	if err := os.MkdirAll(filepath.Dir(cfg.ConfigFile), 0o700); err != nil {
		return fmt.Errorf("config dir for %s: %w", cfg.ConfigFile, err)
	}
	// A stale config from another repository would make Connect fail.
	_ = os.Remove(cfg.ConfigFile)
	opt := &repo.ConnectOptions{
		ClientOptions: cfg.clientOptions(),
		CachingOptions: content.CachingOptions{
			CacheDirectory:              filepath.Join(cfg.CacheDir, "cache"),
			ContentCacheSizeBytes:       cfg.ContentCacheBytes,
			ContentCacheSizeLimitBytes:  cfg.ContentCacheBytes,
			MetadataCacheSizeBytes:      cfg.CacheSizeBytes,
			MetadataCacheSizeLimitBytes: cfg.CacheSizeBytes,
		},
	}
	return classify(cfg.Path, repo.Connect(ctx, cfg.ConfigFile, st, cfg.Password, opt))
}

// Open opens the repository, connecting first when cfg.ConfigFile does not
// exist yet (or points at another repository).
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.ConfigFile); err != nil || !sameRepo(cfg) {
		if err := connect(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return open(ctx, cfg)
}

// sameRepo reports whether the saved connection points at cfg.Path.
func sameRepo(cfg Config) bool {
	lc, err := repo.LoadConfigFromFile(cfg.ConfigFile)
	if err != nil || lc.Storage == nil {
		return false
	}
	var ok bool
	switch o := lc.Storage.Config.(type) {
	case *filesystem.Options:
		ok = cfg.S3 == nil && filepath.Clean(o.Path) == cfg.Path
	case *s3.Options:
		// Everything kopia keeps of the connection: with only the location
		// compared, a rotated secret or a new CA never reached kopia, which
		// went on signing with the old secret from its saved connection.
		s := cfg.S3
		ok = s != nil && o.BucketName == s.Bucket && o.Prefix == s.Prefix && o.Endpoint == s.Endpoint &&
			o.Region == s.Region && o.AccessKeyID == s.AccessKeyID && o.SecretAccessKey == s.SecretAccessKey &&
			o.DoNotUseTLS == s.DisableTLS && o.DoNotVerifyTLS == s.InsecureSkipVerify && bytes.Equal(o.RootCA, s.CA)
	}
	var limit float64
	if lc.Throttling != nil {
		limit = lc.Throttling.UploadBytesPerSecond
	}
	return ok && limit == cfg.UploadBytesPerSecond && lc.Caching != nil &&
		lc.Caching.ContentCacheSizeBytes == cfg.ContentCacheBytes && lc.Caching.MetadataCacheSizeBytes == cfg.CacheSizeBytes &&
		lc.ReadOnly == cfg.ReadOnly && lc.UsernameAtHost() == cfg.Client
}

func open(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg, Parallel: runtime.NumCPU(), Progress: NopProgress{}, FileErrors: IgnoreVanished,
		ProgressInterval: time.Second, now: time.Now}
	octx, cancel := context.WithTimeout(ctx, cfg.OpenTimeout)
	defer cancel()
	r, err := repo.Open(octx, cfg.ConfigFile, cfg.Password, &repo.Options{
		DoNotWaitForUpgrade: true,
		OnFatalError:        e.fatal,
	})
	if err != nil {
		return nil, classify(cfg.Path, err)
	}
	e.rep = r
	return e, nil
}

func classify(path string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, repo.ErrInvalidPassword):
		return fmt.Errorf("repository %s: %w", path, ErrInvalidPassword)
	case errors.Is(err, repo.ErrRepositoryNotInitialized):
		return fmt.Errorf("repository %s: %w", path, ErrNotInitialized)
	case errors.Is(err, repo.ErrRepositoryUnavailableDueToUpgradeInProgress):
		return fmt.Errorf("repository %s: %w", path, ErrUpgradeInProgress)
	default:
		if _, fix := storageCause(err); fix != "" {
			return storageError(path, err)
		}
		return fmt.Errorf("repository %s: %w", path, err)
	}
}

// Engine is an open repository. It is safe for concurrent use; set the option
// fields before the first call.
type Engine struct {
	cfg Config
	rep repo.Repository

	// Parallel is the number of files read at once (default: CPU count).
	Parallel int
	// Progress receives throttled updates while a backup runs.
	Progress Progress
	// ProgressInterval is the minimum time between Progress updates (default 1s).
	ProgressInterval time.Duration
	// FileErrors decides which unreadable files fail a backup.
	FileErrors FileErrorPolicy
	// Compression overrides the compressor ("none", "zstd-fastest", "s2-default", ...).
	Compression string
	// BlockLayoutMin: regular files at least this large are stored in 16
	// KiB blocks (blocks.go); 0 means DefaultBlockLayoutMin, negative never.
	BlockLayoutMin int64

	now func() time.Time
	// wrapDir lets tests inject faults at kopia's fs.Entry layer.
	wrapDir func(kfs.Directory) kfs.Directory

	mu       sync.Mutex
	fatalErr error
}

// fatal replaces kopia's default handler, which exits the process.
func (e *Engine) fatal(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fatalErr == nil {
		e.fatalErr = err
	}
}

func (e *Engine) healthy() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fatalErr != nil {
		return fmt.Errorf("repository %s: %w: %w", e.cfg.Path, ErrFatal, e.fatalErr)
	}
	return nil
}

// Close releases the repository.
func (e *Engine) Close(ctx context.Context) error {
	if e == nil || e.rep == nil {
		return nil
	}
	return e.rep.Close(ctx)
}

// Status describes an open repository.
type Status struct {
	Path, ConfigFile, CacheDir, Client string
	Hash, Encryption, Splitter         string
	MaintenanceOwner                   string
	// LastMaintenance is the end of the latest successful maintenance task;
	// Next* are kopia's schedule (advanced by every run).
	LastMaintenance, NextQuickMaintenance, NextFullMaintenance time.Time
}

// Status reports the repository format and maintenance state.
func (e *Engine) Status(ctx context.Context) (Status, error) {
	s := Status{Path: e.cfg.Path, ConfigFile: e.cfg.ConfigFile, CacheDir: e.cfg.CacheDir, Client: e.cfg.Client}
	dr, ok := e.rep.(repo.DirectRepository)
	if !ok {
		return s, nil
	}
	fm := dr.FormatManager()
	s.Hash, s.Encryption = fm.GetHashFunction(), fm.GetEncryptionAlgorithm()
	s.Splitter = dr.ObjectFormat().Splitter
	p, err := maintenance.GetParams(ctx, e.rep)
	if err != nil {
		return s, fmt.Errorf("repository %s: maintenance params: %w", e.cfg.Path, err)
	}
	s.MaintenanceOwner = p.Owner
	if sch, err := maintenance.GetSchedule(ctx, dr); err == nil {
		s.LastMaintenance = lastRun(sch)
		s.NextQuickMaintenance, s.NextFullMaintenance = sch.NextQuickMaintenanceTime, sch.NextFullMaintenanceTime
	}
	return s, nil
}

func lastRun(s *maintenance.Schedule) time.Time {
	var t time.Time
	for _, runs := range s.Runs {
		for _, r := range runs {
			if r.Success && r.End.After(t) {
				t = r.End
			}
		}
	}
	return t
}
