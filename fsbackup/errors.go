package fsbackup

import "errors"

// Error kinds callers branch on with errors.Is.
var (
	// ErrNoPassword: no repository password was configured.
	ErrNoPassword = errors.New("no repository password (set --password-file or QUIESCE_REPO_PASSWORD)")
	// ErrInvalidPassword: the password does not decrypt the repository.
	ErrInvalidPassword = errors.New("invalid repository password")
	// ErrNotInitialized: the storage holds no repository; run `quiesce repo init`.
	ErrNotInitialized = errors.New("repository not initialized (run `quiesce repo init`)")
	// ErrAlreadyInitialized: the storage already holds a repository.
	ErrAlreadyInitialized = errors.New("repository already initialized (use `quiesce repo connect`)")
	// ErrSnapshotNotFound: no snapshot with that ID.
	ErrSnapshotNotFound = errors.New("snapshot not found")
	// ErrFileErrors: files could not be read and the FileErrorPolicy does not allow it.
	ErrFileErrors = errors.New("files could not be read")
	// ErrCorrupt: verify found content that cannot be read back.
	ErrCorrupt = errors.New("repository content is corrupt")
	// ErrFatal: kopia reported a fatal error earlier; reopen the repository.
	ErrFatal = errors.New("repository hit a fatal error; reopen it")
	// ErrUpgradeInProgress: the repository is locked for a format upgrade.
	ErrUpgradeInProgress = errors.New("repository upgrade in progress; retry later")
)

// Error kinds of the storage side, each wrapped with the cause and the fix
// (storageCause): what a person must change, never retried away.
var (
	// ErrStorageCredentials: the object store refused the access key or
	// its signature (a wrong or rotated secret), or denied access.
	ErrStorageCredentials = errors.New("S3 rejected the credentials")
	// ErrStorageTLS: the TLS handshake with the endpoint failed (an
	// untrusted or mismatched certificate, or TLS spoken to plain HTTP).
	ErrStorageTLS = errors.New("TLS to the S3 endpoint failed")
	// ErrNoBucket: the bucket does not exist.
	ErrNoBucket = errors.New("S3 bucket does not exist")
	// ErrStorageUnavailable: the endpoint could not be reached, or dropped
	// the connection, through all of kopia's retries. Nothing half-written
	// is saved; a later backup can succeed.
	ErrStorageUnavailable = errors.New("S3 endpoint unreachable")
)
