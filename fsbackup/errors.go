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
