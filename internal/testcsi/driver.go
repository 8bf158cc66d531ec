package testcsi

import (
	"context"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// TopologyKey is the one topology segment: the node a volume lives on.
// kubernetes.io/hostname is on every Node already, so registering the
// driver adds no label of its own to the Nodes.
const TopologyKey = "kubernetes.io/hostname"

// Driver serves the CSI identity, controller and node services of one node.
type Driver struct {
	Name    string // e.g. quiesce-csi.quiesce.dev
	Version string
	Node    string
	Store   Store
	Mounter Mounter
	Log     *zap.Logger

	// mu serialises the operations: the kubelet and the provisioner may
	// retry a call while the first still runs, and every call is fast.
	mu sync.Mutex
}

// Register adds the driver's CSI services to s.
func (d *Driver) Register(s *grpc.Server) {
	csi.RegisterIdentityServer(s, identity{d: d})
	csi.RegisterControllerServer(s, controller{d: d})
	csi.RegisterNodeServer(s, node{d: d})
}

func (d *Driver) topology() *csi.Topology {
	return &csi.Topology{Segments: map[string]string{TopologyKey: d.Node}}
}

type identity struct {
	csi.UnimplementedIdentityServer
	d *Driver
}

func (i identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: i.d.Name, VendorVersion: i.d.Version}, nil
}

// GetPluginCapabilities: a controller service (CreateVolume) and
// topology, which makes the provisioner and the scheduler keep volumes on
// their node.
func (identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	svc := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		svc(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		svc(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
	}}, nil
}

func (identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}
