// Package testcsi is TEST INFRASTRUCTURE, never shipped: a small CSI driver
// the local e2e cluster runs so that quiesce is tested against volumes the
// kubelet mounts through the real CSI path (dynamic provisioning by the
// upstream external-provisioner, the kubelet's plugin registration,
// NodePublishVolume at kubernetes.io~csi/<pv>/mount).
//
// A volume is a directory under the driver's state directory on the node
// it was created on, and its topology is that node (kubernetes.io/hostname),
// so its pods are scheduled there. The driver runs on every node with the
// external-provisioner beside it in node-deployment mode: each node
// provisions (CreateVolume) and deletes the volumes of its own disk, which a
// central controller could not reach. NodePublishVolume bind-mounts the
// directory at the kubelet's target path: a real mount point, which the
// agent must see through mount propagation.
//
// The services are the CSI spec's (github.com/container-storage-interface/spec)
// and the kubelet's plugin registration (k8s.io/kubelet pluginregistration/v1),
// served by the driver itself instead of a node-driver-registrar sidecar.
package testcsi
