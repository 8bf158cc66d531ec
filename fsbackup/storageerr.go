package fsbackup

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/kopia/kopia/repo/blob"
	"github.com/minio/minio-go/v7"
)

// storageError adds the kind and the fix to an object-store failure a
// person must fix, and returns other errors as they are.
func storageError(path string, err error) error {
	if kind, fix := storageCause(err); kind != nil {
		return fmt.Errorf("repository %s: %w: %w (%s)", path, kind, err, fix)
	}
	return err
}

// storageCause recognizes the object-store failures a person must fix and
// returns their kind and the fix; nil when err is none of them. kopia
// passes minio's responses and Go's TLS errors up wrapped, so they are
// matched by type and S3 error code, not by text.
func storageCause(err error) (kind error, fix string) {
	if err == nil {
		return nil, ""
	}
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		switch me.Code {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
			return ErrStorageCredentials, "S3 error " + me.Code + ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
				"(chart: the repository Secret's aws-access-key-id and aws-secret-access-key) to a key the server accepts for the bucket, " +
				"then restart the agents"
		case "NoSuchBucket":
			return ErrNoBucket, "create the bucket, or fix --s3-bucket (chart: repository.s3.bucket)"
		}
	}
	if errors.Is(err, blob.ErrInvalidCredentials) {
		return ErrStorageCredentials, "the credentials are invalid or expired: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
			"(chart: the repository Secret's aws-access-key-id and aws-secret-access-key)"
	}
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		herr  x509.HostnameError
		rerr  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &herr):
		return ErrStorageTLS, "the endpoint's certificate does not name the host in --s3-endpoint (chart: repository.s3.endpoint): " +
			"use a name the certificate lists, or reissue it"
	case errors.As(err, &verr), errors.As(err, &uaerr):
		return ErrStorageTLS, "the endpoint's certificate is not signed by a trusted CA: give the CA that signed it with " +
			"--s3-ca-file (chart: repository.s3.ca)"
	case errors.As(err, &rerr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// Go reports this one only as text (net/http's transport).
		return ErrStorageTLS, "the endpoint speaks plain HTTP: serve TLS on it, or set --s3-disable-tls (chart: repository.s3.insecure)"
	}
	var oerr *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &oerr):
		return ErrStorageUnavailable, "check that the S3 server at --s3-endpoint (chart: repository.s3.endpoint) runs and is reachable " +
			"from the node; snapshots already saved are intact and the next backup retries"
	}
	return nil, ""
}
