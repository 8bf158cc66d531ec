// Package containerd implements cri.Runtime on a node running containerd.
//
// Containers are found through the CRI (kubelet's labels on ListContainers),
// and commands run through containerd's task exec rather than CRI ExecSync:
// ExecSync's timeout is whole seconds and kills only the exec'd process, so
// a child holding the output pipes can keep it from returning at all, and it
// cannot hold a process with stdin open. Task exec gives us the process's
// PID and its stdio, so a timed-out command's whole tree is killed on time
// (see proctree.go) and a held command lives exactly as long as we say.
//
// Compatibility: the containerd v2 Go client is used against daemons from
// 1.6 on. It only needs the containers and tasks services (v1 APIs, served
// unchanged since 1.0) and the CRI v1 runtime service (served since 1.6).
package containerd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/quiesce-dev/quiesce/cri"
)

// DefaultEndpoint is containerd's socket on a node.
const DefaultEndpoint = "unix:///run/containerd/containerd.sock"

// Namespace is the containerd namespace the CRI plugin keeps pods in.
const Namespace = "k8s.io"

// Kubelet's container labels.
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// Options configure New. The zero value talks to DefaultEndpoint.
type Options struct {
	// Endpoint is the containerd socket: a path or a unix:// URL.
	Endpoint string
	// FIFODir holds the stdio FIFOs of exec'd commands; empty means
	// containerd's default (/run/containerd/fifo). The shim opens them by
	// path, so in a pod it must be a hostPath mounted at the same path.
	//
	// The agent also needs hostPID and root (CAP_KILL, CAP_SYS_PTRACE): a
	// timed-out command's process tree is found in /proc (proctree.go).
	FIFODir string
	// Logger gets Debug records of what runs and what is killed.
	Logger *zap.Logger
}

// Runtime is a cri.Runtime backed by containerd.
type Runtime struct {
	conn    *grpc.ClientConn
	cri     runtimeapi.RuntimeServiceClient
	client  *containerd.Client
	fifoDir string
	log     *zap.Logger

	mu     sync.Mutex
	active map[string]bool // markers of the commands this value runs
}

var _ cri.Runtime = (*Runtime)(nil)

// New connects lazily to containerd: a daemon that is down shows up as
// cri.ErrUnavailable on the first call, not here.
func New(opts Options) (*Runtime, error) {
	ep := opts.Endpoint
	if ep == "" {
		ep = DefaultEndpoint
	}
	if !strings.Contains(ep, "://") {
		ep = "unix://" + ep
	}
	if !strings.HasPrefix(ep, "unix://") {
		return nil, fmt.Errorf("runtime endpoint %q: only unix sockets are supported (use e.g. %s)", ep, DefaultEndpoint)
	}
	conn, err := grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("runtime endpoint %q: %w", ep, err)
	}
	client, err := containerd.NewWithConn(conn, containerd.WithDefaultNamespace(Namespace))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("runtime endpoint %q: %w", ep, err)
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Runtime{conn: conn, cri: runtimeapi.NewRuntimeServiceClient(conn), client: client, fifoDir: opts.FIFODir, log: log, active: map[string]bool{}}, nil
}

// Close closes the connection. Held processes are not released by Close.
func (r *Runtime) Close() error { return r.conn.Close() }

// findContainer returns the ID of the running container ref names.
func (r *Runtime) findContainer(ctx context.Context, ref cri.ContainerRef) (string, error) {
	resp, err := r.cri.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{labelPodUID: ref.PodUID, labelContainerName: ref.Container},
	}})
	if err != nil {
		return "", fmt.Errorf("%s: list containers: %w", ref, grpcKind(err))
	}
	var states []string
	var newest *runtimeapi.Container
	for _, c := range resp.Containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			if newest == nil || c.CreatedAt > newest.CreatedAt {
				newest = c
			}
			continue
		}
		states = append(states, strings.TrimPrefix(c.State.String(), "CONTAINER_"))
	}
	switch {
	case newest != nil:
		return newest.Id, nil
	case len(states) > 0:
		return "", fmt.Errorf("%s (uid %s): state %s, hooks need it running: %w", ref, ref.PodUID, strings.Join(states, ", "), cri.ErrContainerNotRunning)
	default:
		return "", fmt.Errorf("%s (uid %s): no such container on this node (check the pod UID and the hook's container name): %w", ref, ref.PodUID, cri.ErrContainerNotFound)
	}
}

// grpcKind maps a gRPC or containerd error onto cri's error kinds, keeping
// the original text.
func grpcKind(err error) error {
	switch {
	case err == nil:
		return nil
	case status.Code(err) == codes.Unavailable, errdefs.IsUnavailable(err):
		return fmt.Errorf("%w: %v", cri.ErrUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	case status.Code(err) == codes.DeadlineExceeded:
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}

func (r *Runtime) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, Namespace)
}
