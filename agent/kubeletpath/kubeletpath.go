// Package kubeletpath finds a pod volume's directory on the node, under the
// kubelet's root (/var/lib/kubelet/pods/<uid>/volumes/<plugin>/<name>).
// Candidates is pure; Resolve adds the filesystem check.
package kubeletpath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultRoot is the kubelet's default --root-dir.
const DefaultRoot = "/var/lib/kubelet"

// Plugin directory names, as the kubelet escapes them ("/" becomes "~").
const (
	PluginEmptyDir    = "kubernetes.io~empty-dir"
	PluginLocalVolume = "kubernetes.io~local-volume"
	PluginCSI         = "kubernetes.io~csi"
)

// ErrNotFound: none of the candidate directories exists.
var ErrNotFound = errors.New("volume directory not found")

// ErrAmbiguous: more than one candidate exists.
var ErrAmbiguous = errors.New("volume directory is ambiguous")

// ErrUnsupported: the volume type is not captured from the host.
var ErrUnsupported = errors.New("volume type not supported")

// Ref names one volume of one pod.
type Ref struct {
	// Root is the kubelet root dir; default DefaultRoot.
	Root   string
	Pod    *corev1.Pod
	Volume string
	// PV is the PersistentVolume bound to the volume's claim, when the caller
	// has it; otherwise PVName (the claim's spec.volumeName) is enough to
	// look for the CSI and local-volume directories.
	PV     *corev1.PersistentVolume
	PVName string
}

func (r Ref) pod() string {
	if r.Pod == nil {
		return "<nil>"
	}
	return r.Pod.Namespace + "/" + r.Pod.Name
}

// Candidates returns the directories where the volume's data can be, in the
// order they are checked. It does no I/O.
func Candidates(r Ref) ([]string, error) {
	if r.Pod == nil {
		return nil, errors.New("kubeletpath: nil pod")
	}
	root := r.Root
	if root == "" {
		root = DefaultRoot
	}
	var vol *corev1.Volume
	names := make([]string, 0, len(r.Pod.Spec.Volumes))
	for i := range r.Pod.Spec.Volumes {
		names = append(names, r.Pod.Spec.Volumes[i].Name)
		if r.Pod.Spec.Volumes[i].Name == r.Volume {
			vol = &r.Pod.Spec.Volumes[i]
		}
	}
	if vol == nil {
		sort.Strings(names)
		return nil, fmt.Errorf("pod %s: no volume %q (volumes: %s)", r.pod(), r.Volume, strings.Join(names, ", "))
	}
	if r.Pod.UID == "" {
		return nil, fmt.Errorf("pod %s: empty metadata.uid; the kubelet's volume path needs it", r.pod())
	}
	vols := filepath.Join(root, "pods", string(r.Pod.UID), "volumes")
	switch {
	case vol.EmptyDir != nil:
		return []string{filepath.Join(vols, PluginEmptyDir, vol.Name)}, nil
	case vol.CSI != nil: // inline ephemeral CSI volume: named after the pod volume
		return []string{filepath.Join(vols, PluginCSI, vol.Name, "mount")}, nil
	case vol.HostPath != nil:
		return []string{vol.HostPath.Path}, nil
	case vol.PersistentVolumeClaim != nil, vol.Ephemeral != nil:
		return pvCandidates(r, vol, vols)
	default:
		return nil, fmt.Errorf("pod %s: volume %q: %w (supported: emptyDir, persistentVolumeClaim, ephemeral, csi, hostPath)",
			r.pod(), vol.Name, ErrUnsupported)
	}
}

func pvCandidates(r Ref, vol *corev1.Volume, vols string) ([]string, error) {
	pv := r.PVName
	if r.PV != nil {
		pv = r.PV.Name
	}
	if pv == "" {
		claim := r.Pod.Name + "-" + vol.Name // generic ephemeral volume claim name
		if vol.PersistentVolumeClaim != nil {
			claim = vol.PersistentVolumeClaim.ClaimName
		}
		return nil, fmt.Errorf("pod %s: volume %q uses claim %q: the bound PersistentVolume's name is needed (the claim's spec.volumeName)",
			r.pod(), vol.Name, claim)
	}
	csi := filepath.Join(vols, PluginCSI, pv, "mount")
	local := filepath.Join(vols, PluginLocalVolume, pv)
	if r.PV == nil {
		return []string{csi, local}, nil
	}
	switch s := r.PV.Spec; {
	case s.CSI != nil:
		return []string{csi}, nil
	case s.Local != nil:
		return []string{local}, nil
	case s.HostPath != nil:
		return []string{s.HostPath.Path}, nil
	default:
		return nil, fmt.Errorf("pod %s: volume %q: PersistentVolume %s: %w (supported: csi, local, hostPath)",
			r.pod(), vol.Name, pv, ErrUnsupported)
	}
}

// Resolve returns the one candidate directory that exists.
func Resolve(r Ref) (string, error) {
	cands, err := Candidates(r)
	if err != nil {
		return "", err
	}
	var found []string
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("pod %s: volume %q: looked for %s: %w (is the pod running on this node and the volume mounted?)",
			r.pod(), r.Volume, strings.Join(cands, " and "), ErrNotFound)
	default:
		return "", fmt.Errorf("pod %s: volume %q: both %s exist: %w (pass the PersistentVolume to choose)",
			r.pod(), r.Volume, strings.Join(found, " and "), ErrAmbiguous)
	}
}

// PodDir is the kubelet's directory of the pod with uid: it exists from
// the pod's start on the node until the kubelet has torn its volumes down.
func PodDir(root, uid string) string {
	if root == "" {
		root = "/var/lib/kubelet"
	}
	return filepath.Join(root, "pods", uid)
}
