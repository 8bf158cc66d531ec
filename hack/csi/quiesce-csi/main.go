// Command quiesce-csi is TEST INFRASTRUCTURE for the local e2e cluster: the
// node plugin of the test CSI driver (internal/testcsi). One process per
// node serves the CSI identity, controller and node services on the
// driver's socket (the kubelet and the external-provisioner beside it
// dial it) and the kubelet's plugin registration on a socket in the
// kubelet's plugins_registry directory. Deployed by hack/csi/deploy.yaml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/quiesce-dev/quiesce/internal/testcsi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quiesce-csi:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "quiesce-csi.quiesce.dev", "driver name (the CSIDriver object's)")
	node := flag.String("node", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
	state := flag.String("state-dir", "/var/lib/quiesce-csi", "where volumes live; each node uses <state-dir>/<node>/volumes")
	kubelet := flag.String("kubelet-root", "/var/lib/kubelet", "the kubelet's root dir, mounted at the same path")
	debug := flag.Bool("debug", false, "log every call")
	flag.Parse()
	if *node == "" {
		return errors.New("--node (or $NODE_NAME) is required")
	}
	cfg := zap.NewProductionConfig()
	if *debug {
		cfg.Level = zap.NewAtomicLevelAt(zap.DebugLevel)
	}
	log, err := cfg.Build()
	if err != nil {
		return err
	}
	log = log.With(zap.String("node", *node), zap.String("driver", *name))
	defer func() { _ = log.Sync() }()

	store := testcsi.Store{Dir: filepath.Join(*state, *node, "volumes")}
	if err := os.MkdirAll(store.Dir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	// The socket paths are host paths: the kubelet dials them in its own
	// mount namespace, where the hostPath mounts put the same directories.
	csiSocket := filepath.Join(*kubelet, "plugins", *name, "csi.sock")
	regSocket := filepath.Join(*kubelet, "plugins_registry", *name+"-reg.sock")
	d := &testcsi.Driver{Name: *name, Version: "test", Node: *node, Store: store, Mounter: testcsi.SysMounter{}, Log: log}
	failed := make(chan error, 1)
	reg := &testcsi.Registration{Driver: *name, Endpoint: csiSocket, Log: log, Failed: failed}

	// The CSI socket listens before the registration socket exists: the
	// kubelet dials it as soon as it learns of it.
	csiL, err := testcsi.Listen(csiSocket)
	if err != nil {
		return err
	}
	regL, err := testcsi.Listen(regSocket)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return testcsi.Serve(ctx, csiL, log, d.Register) })
	g.Go(func() error { return testcsi.Serve(ctx, regL, log, reg.Register) })
	g.Go(func() error {
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return nil
		}
	})
	log.Info("serving", zap.String("csiSocket", csiSocket), zap.String("registrationSocket", regSocket), zap.String("volumes", store.Dir))
	err = g.Wait()
	_ = os.Remove(regSocket) // the kubelet unregisters a plugin whose socket is gone
	return err
}
