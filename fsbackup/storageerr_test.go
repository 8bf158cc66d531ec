package fsbackup

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
	pkgerrors "github.com/pkg/errors"
)

// TestStorageCause feeds the errors kopia passes up (minio responses, Go's
// TLS and network errors, wrapped with github.com/pkg/errors as kopia
// does) and checks each gets its kind and a fix naming the setting.
func TestStorageCause(t *testing.T) {
	wrap := func(err error) error {
		if err == nil {
			return nil
		}
		return pkgerrors.Wrap(fmt.Errorf("unable to complete GetBlob despite 10 retries: %w", err), "error retrieving storage config")
	}
	tlsErr := &url.Error{Op: "Get", URL: "https://s3:8333/b", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}
	for _, tc := range []struct {
		name string
		err  error
		kind error
		fix  string
	}{
		{"wrong secret", minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, ErrStorageCredentials, "AWS_SECRET_ACCESS_KEY"},
		{"unknown key", minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}, ErrStorageCredentials, "aws-access-key-id"},
		{"denied (HEAD)", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, ErrStorageCredentials, "AWS_ACCESS_KEY_ID"},
		{"no bucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, ErrNoBucket, "repository.s3.bucket"},
		{"untrusted CA", tlsErr, ErrStorageTLS, "--s3-ca-file"},
		{"wrong host", &url.Error{Err: &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "s3"}}}, ErrStorageTLS, "does not name the host"},
		{"plain HTTP", errors.New(`Get "https://s3/b": http: server gave HTTP response to HTTPS client`), ErrStorageTLS, "--s3-disable-tls"},
		{"refused", &url.Error{Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, ErrStorageUnavailable, "runs and is reachable"},
		{"other S3 error", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, nil, ""},
		{"not storage", errors.New("disk full"), nil, ""},
		{"no error", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, fix := storageCause(wrap(tc.err))
			if kind != tc.kind || !strings.Contains(fix, tc.fix) {
				t.Fatalf("storageCause = %v, %q; want %v with %q", kind, fix, tc.kind, tc.fix)
			}
			if kind == nil {
				return
			}
			err := storageError("s3://b/p at s3:8333", wrap(tc.err))
			if !errors.Is(err, kind) || !errors.Is(err, tc.err) && !errors.As(err, new(minio.ErrorResponse)) {
				t.Errorf("storageError lost the kind or the cause: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "repository s3://b/p at s3:8333: ") {
				t.Errorf("storageError does not name the repository first: %v", err)
			}
		})
	}
}

// TestSameRepoS3 checks that a saved S3 connection is reused only while
// every setting kopia keeps in it is unchanged: a rotated secret or a new
// CA must reach kopia, which would otherwise sign with the saved secret.
func TestSameRepoS3(t *testing.T) {
	endpoint := startS3(t)
	cfg := Config{
		S3: &S3{Endpoint: endpoint, Bucket: "quiesce", Prefix: "p/", Region: "us-east-1",
			AccessKeyID: "key", SecretAccessKey: "old", DisableTLS: true},
		Password: testPassword, CacheDir: t.TempDir(), Client: "test@node-a",
		// kopia saves no cache settings at all when the content cache is
		// off, and sameRepo then never reuses a connection.
		ContentCacheBytes: 1 << 20,
	}
	e, err := Create(t.Context(), cfg, Format{})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Close(t.Context())
	c, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if !sameRepo(c) {
		b, _ := os.ReadFile(c.ConfigFile)
		t.Fatalf("the connection just saved is not recognized:\n%s", b)
	}
	for name, change := range map[string]func(s *S3){
		"secret":     func(s *S3) { s.SecretAccessKey = "new" },
		"access key": func(s *S3) { s.AccessKeyID = "other" },
		"CA":         func(s *S3) { s.CA = []byte("pem") },
		"TLS":        func(s *S3) { s.DisableTLS = false },
		"region":     func(s *S3) { s.Region = "eu-west-1" },
	} {
		s := *c.S3
		change(&s)
		changed := c
		changed.S3 = &s
		if sameRepo(changed) {
			t.Errorf("a changed %s reuses the saved connection", name)
		}
	}
}
