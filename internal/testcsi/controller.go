package testcsi

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type controller struct {
	csi.UnimplementedControllerServer
	d *Driver
}

// CreateVolume makes the volume on this node. The external-provisioner in
// node-deployment mode calls it only for claims the scheduler placed here
// (the claim's selected node), and passes that node as the requirement;
// a requirement that names another node is refused rather than served
// from the wrong disk.
func (c controller) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is empty")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if req.GetVolumeContentSource() != nil {
		return nil, status.Error(codes.InvalidArgument, "volume content sources (snapshots, clones) are not supported")
	}
	if err := c.d.checkPlacement(req.GetAccessibilityRequirements()); err != nil {
		return nil, err
	}
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if err := c.d.Store.Create(req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	c.d.Log.Info("volume created", zap.String("volume", req.GetName()), zap.Int64("bytes", req.GetCapacityRange().GetRequiredBytes()))
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:           req.GetName(),
		CapacityBytes:      req.GetCapacityRange().GetRequiredBytes(), // a directory: not enforced
		AccessibleTopology: []*csi.Topology{c.d.topology()},
	}}, nil
}

// checkPlacement accepts requirements that allow this node (or none:
// immediate binding without topology).
func (d *Driver) checkPlacement(req *csi.TopologyRequirement) error {
	ts := append(req.GetPreferred(), req.GetRequisite()...)
	if len(ts) == 0 {
		return nil
	}
	for _, t := range ts {
		if t.GetSegments()[TopologyKey] == d.Node {
			return nil
		}
	}
	return status.Errorf(codes.ResourceExhausted, "node %s: the topology requirement %v does not allow this node, and volumes are local to the node that creates them", d.Node, ts)
}

func (c controller) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id is empty")
	}
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if err := c.d.Store.Delete(req.GetVolumeId()); err != nil {
		return nil, toStatus(err)
	}
	c.d.Log.Info("volume deleted", zap.String("volume", req.GetVolumeId()))
	return &csi.DeleteVolumeResponse{}, nil
}

func (c controller) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	ok, err := c.d.Store.Exists(req.GetVolumeId())
	switch {
	case err != nil:
		return nil, toStatus(err)
	case !ok:
		return nil, status.Errorf(codes.NotFound, "volume %s is not on node %s", req.GetVolumeId(), c.d.Node)
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeCapabilities: req.GetVolumeCapabilities()}}, nil
}

func (controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: []*csi.ControllerServiceCapability{{
		Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{
			Type: csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME}},
	}}}, nil
}

// checkCapabilities accepts filesystem volumes of one node: a directory
// can be neither a block device nor shared across nodes.
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "no volume capabilities")
	}
	for _, c := range caps {
		if c.GetBlock() != nil {
			return status.Error(codes.InvalidArgument, "block volumes are not supported: a volume is a directory")
		}
		switch m := c.GetAccessMode().GetMode(); m {
		case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		default:
			return status.Errorf(codes.InvalidArgument, "access mode %s is not supported: a volume lives on one node", m)
		}
	}
	return nil
}

// toStatus gives an error its gRPC code: the caller retries Internal, not
// InvalidArgument or NotFound.
func toStatus(err error) error {
	switch {
	case errors.Is(err, ErrBadID):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrNoVolume):
		return status.Error(codes.NotFound, err.Error())
	}
	return status.Error(codes.Internal, fmt.Sprint(err))
}
