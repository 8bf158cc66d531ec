package testcsi

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type node struct {
	csi.UnimplementedNodeServer
	d *Driver
}

// NodeGetInfo names this node and its topology; the kubelet records them
// in the node's CSINode, and the provisioner passes them to CreateVolume.
func (n node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.d.Node, AccessibleTopology: n.d.topology()}, nil
}

// NodeGetCapabilities: none; without STAGE_UNSTAGE_VOLUME the kubelet
// goes straight to NodePublishVolume.
func (node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

// NodePublishVolume bind-mounts the volume's directory at the kubelet's
// target path (.../pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount),
// which the driver creates, as the spec leaves it to the plugin. A target
// already mounted is a success: the kubelet retries.
func (n node) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	id, target := req.GetVolumeId(), req.GetTargetPath()
	if id == "" || target == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id and target path are required")
	}
	if err := checkCapabilities([]*csi.VolumeCapability{req.GetVolumeCapability()}); err != nil {
		return nil, err
	}
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	src, err := n.d.Store.Path(id)
	if err != nil {
		return nil, toStatus(err)
	}
	if ok, err := n.d.Store.Exists(id); err != nil || !ok {
		return nil, toStatus(errors.Join(err, fmt.Errorf("volume %s on node %s: %w", id, n.d.Node, ErrNoVolume)))
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, toStatus(fmt.Errorf("target %s: %w", target, err))
	}
	mounted, err := n.d.Mounter.IsMountPoint(target)
	if err != nil {
		return nil, toStatus(err)
	}
	if mounted {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if err := n.d.Mounter.Bind(src, target, req.GetReadonly()); err != nil {
		return nil, toStatus(err)
	}
	n.d.Log.Info("volume published", zap.String("volume", id), zap.String("target", target), zap.Bool("readOnly", req.GetReadonly()))
	return &csi.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume unmounts the target and removes it; an absent or
// unmounted target is a success.
func (n node) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if req.GetVolumeId() == "" || target == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id and target path are required")
	}
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if err := n.d.Mounter.Unmount(target); err != nil {
		return nil, toStatus(err)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, toStatus(fmt.Errorf("target %s: %w", target, err))
	}
	n.d.Log.Info("volume unpublished", zap.String("volume", req.GetVolumeId()), zap.String("target", target))
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
