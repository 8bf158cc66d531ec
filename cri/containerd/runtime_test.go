package containerd_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/cri/containerd"
)

// A socket nobody listens on is ErrUnavailable, promptly: not a hang.
func TestUnavailable(t *testing.T) {
	rt, err := containerd.New(containerd.Options{Endpoint: filepath.Join(t.TempDir(), "none.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	start := time.Now()
	_, err = rt.Exec(t.Context(), cri.ContainerRef{PodUID: "u", PodNamespace: "ns", PodName: "p", Container: "c"}, []string{"true"}, time.Minute)
	if !errors.Is(err, cri.ErrUnavailable) {
		t.Fatalf("Exec with containerd down: %v; want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestEndpoint(t *testing.T) {
	if _, err := containerd.New(containerd.Options{Endpoint: "tcp://127.0.0.1:1"}); err == nil {
		t.Fatal("tcp endpoint accepted; want an error naming unix sockets")
	}
}
