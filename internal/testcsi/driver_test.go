package testcsi

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// fakeMounter records binds in a map: the mount table of a test.
type fakeMounter struct {
	mounts map[string]string // target -> source
	binds  int
}

func (f *fakeMounter) Bind(src, target string, _ bool) error {
	f.mounts[target] = src
	f.binds++
	return nil
}
func (f *fakeMounter) Unmount(target string) error         { delete(f.mounts, target); return nil }
func (f *fakeMounter) IsMountPoint(p string) (bool, error) { _, ok := f.mounts[p]; return ok, nil }

func newDriver(t *testing.T) (*Driver, *fakeMounter) {
	m := &fakeMounter{mounts: map[string]string{}}
	return &Driver{Name: "quiesce-csi.quiesce.dev", Node: "node-a", Store: Store{Dir: t.TempDir()}, Mounter: m, Log: zaptest.NewLogger(t)}, m
}

var mountRW = []*csi.VolumeCapability{{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
}}

func onNode(n string) *csi.TopologyRequirement {
	return &csi.TopologyRequirement{Preferred: []*csi.Topology{{Segments: map[string]string{TopologyKey: n}}}}
}

func TestCreateVolumeOnItsNode(t *testing.T) {
	d, _ := newDriver(t)
	c := controller{d: d}
	ctx := t.Context()
	req := &csi.CreateVolumeRequest{Name: "quiesce-csi-1", VolumeCapabilities: mountRW, AccessibilityRequirements: onNode("node-a"),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20}}
	for range 2 { // idempotent
		resp, err := c.CreateVolume(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		v := resp.GetVolume()
		if v.GetVolumeId() != "quiesce-csi-1" || v.GetCapacityBytes() != 64<<20 ||
			len(v.GetAccessibleTopology()) != 1 || v.GetAccessibleTopology()[0].GetSegments()[TopologyKey] != "node-a" {
			t.Fatalf("volume = %v", v)
		}
	}
	if fi, err := os.Stat(filepath.Join(d.Store.Dir, "quiesce-csi-1")); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("volume directory: %v %v", fi, err)
	}
	for name, r := range map[string]*csi.CreateVolumeRequest{
		"other node": {Name: "v2", VolumeCapabilities: mountRW, AccessibilityRequirements: onNode("node-b")},
		"block": {Name: "v3", VolumeCapabilities: []*csi.VolumeCapability{{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
			AccessMode: mountRW[0].AccessMode}}},
		"multi-node": {Name: "v4", VolumeCapabilities: []*csi.VolumeCapability{{AccessType: mountRW[0].AccessType,
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}}},
		"path in name": {Name: "../etc", VolumeCapabilities: mountRW},
	} {
		if _, err := c.CreateVolume(ctx, r); status.Code(err) == codes.OK {
			t.Errorf("%s: created", name)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Store.Dir, "v2")); !os.IsNotExist(err) {
		t.Errorf("a volume for node-b was made on node-a: %v", err)
	}
	for range 2 {
		if _, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "quiesce-csi-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Store.Dir, "quiesce-csi-1")); !os.IsNotExist(err) {
		t.Errorf("deleted volume still there: %v", err)
	}
}

func TestPublishBindsAtTheTarget(t *testing.T) {
	d, m := newDriver(t)
	ctx := t.Context()
	if _, err := (controller{d: d}).CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "v1", VolumeCapabilities: mountRW}); err != nil {
		t.Fatal(err)
	}
	n := node{d: d}
	target := filepath.Join(t.TempDir(), "pods/u1/volumes/kubernetes.io~csi/v1/mount")
	req := &csi.NodePublishVolumeRequest{VolumeId: "v1", TargetPath: target, VolumeCapability: mountRW[0]}
	for range 2 { // the kubelet retries: one bind
		if _, err := n.NodePublishVolume(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if m.binds != 1 || m.mounts[target] != filepath.Join(d.Store.Dir, "v1") {
		t.Fatalf("binds %d, mounts %v", m.binds, m.mounts)
	}
	if _, err := n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: "v9", TargetPath: target + "9", VolumeCapability: mountRW[0]}); status.Code(err) != codes.NotFound {
		t.Errorf("publish of a volume not on this node: %v, want NotFound", err)
	}
	for range 2 {
		if _, err := n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v1", TargetPath: target}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) || len(m.mounts) != 0 {
		t.Errorf("after unpublish: target %v, mounts %v", err, m.mounts)
	}
	info, err := n.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil || info.GetNodeId() != "node-a" || info.GetAccessibleTopology().GetSegments()[TopologyKey] != "node-a" {
		t.Errorf("node info = %v, %v", info, err)
	}
}

// The kubelet's side of registration, over a real unix socket: the plugin
// names itself, a CSI plugin, and its socket.
func TestRegistrationOverASocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "reg.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	r := &Registration{Driver: "quiesce-csi.quiesce.dev", Endpoint: "/var/lib/kubelet/plugins/quiesce-csi.quiesce.dev/csi.sock",
		Log: zaptest.NewLogger(t), Failed: failed}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- Serve(ctx, l, zaptest.NewLogger(t), r.Register) }()
	defer func() { cancel(); <-done }()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := registerapi.NewRegistrationClient(conn)
	info, err := cl.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil || info.Type != registerapi.CSIPlugin || info.Name != r.Driver || info.Endpoint != r.Endpoint || len(info.SupportedVersions) == 0 {
		t.Fatalf("info = %v, %v", info, err)
	}
	if _, err := cl.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: false, Error: "version"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failed:
		t.Logf("refusal reported: %v", err)
	default:
		t.Error("a refused registration was not reported")
	}
}
