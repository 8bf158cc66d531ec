//go:build tools

// Package tools pins the SeaweedFS server (the weed binary), a real S3
// server that the S3 integration tests start on loopback (make weed). It
// is built from the module proxy since no release binary can be
// downloaded here, and kept in its own module so its dependencies stay
// out of quiesce's go.mod.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
