package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PodSpec describes a pod to create through the CRI.
type PodSpec struct {
	Namespace, Name string
	// UID defaults to a random one.
	UID        string
	Containers []ContainerSpec
}

// ContainerSpec is one container of a PodSpec, run from BusyboxImage.
type ContainerSpec struct {
	Name string
	// Command defaults to sleeping forever.
	Command []string
	// Mounts maps container paths to host paths (directories or files),
	// e.g. a directory several containers share.
	Mounts map[string]string
}

// Pod is a pod sandbox with running containers, labelled as kubelet labels
// them.
type Pod struct {
	Namespace, Name, UID string
	SandboxID            string
	// ContainerIDs maps container names to CRI container IDs.
	ContainerIDs map[string]string
}

// RunPod creates and starts a host-network pod sandbox (no CNI needed) and
// its containers, and removes them in t.Cleanup.
func (c *Containerd) RunPod(t testing.TB, spec PodSpec) *Pod {
	t.Helper()
	ctx := t.Context()
	if spec.UID == "" {
		spec.UID = randomUID()
	}
	labels := map[string]string{
		"io.kubernetes.pod.name":      spec.Name,
		"io.kubernetes.pod.namespace": spec.Namespace,
		"io.kubernetes.pod.uid":       spec.UID,
	}
	sbConfig := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: spec.Name, Namespace: spec.Namespace, Uid: spec.UID},
		Labels:       labels,
		LogDirectory: filepath.Join(c.Dir, "pods", spec.UID),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}
	sb, err := c.CRI.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbConfig})
	if err != nil {
		t.Fatalf("testenv: run pod sandbox %s/%s: %v", spec.Namespace, spec.Name, err)
	}
	pod := &Pod{Namespace: spec.Namespace, Name: spec.Name, UID: spec.UID, SandboxID: sb.PodSandboxId, ContainerIDs: map[string]string{}}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := c.CRI.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.SandboxID}); err != nil {
			t.Errorf("testenv: stop pod %s: %v", pod.SandboxID, err)
		}
		if _, err := c.CRI.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.SandboxID}); err != nil {
			t.Errorf("testenv: remove pod %s: %v", pod.SandboxID, err)
		}
	})
	for _, cs := range spec.Containers {
		cmd := cs.Command
		if len(cmd) == 0 {
			cmd = []string{"sleep", "2147483647"}
		}
		mounts := []*runtimeapi.Mount{{HostPath: c.Flock, ContainerPath: "/usr/bin/flock", Readonly: true}}
		for ctrPath, hostPath := range cs.Mounts {
			mounts = append(mounts, &runtimeapi.Mount{HostPath: hostPath, ContainerPath: ctrPath})
		}
		cl := map[string]string{"io.kubernetes.container.name": cs.Name}
		for k, v := range labels {
			cl[k] = v
		}
		cc, err := c.CRI.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
			PodSandboxId: pod.SandboxID,
			Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: cs.Name},
				Image:    &runtimeapi.ImageSpec{Image: BusyboxImage},
				Command:  cmd,
				Labels:   cl,
				LogPath:  cs.Name + ".log",
				Mounts:   mounts,
			},
			SandboxConfig: sbConfig,
		})
		if err != nil {
			t.Fatalf("testenv: create container %q of pod %s/%s: %v", cs.Name, spec.Namespace, spec.Name, err)
		}
		if _, err := c.CRI.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cc.ContainerId}); err != nil {
			t.Fatalf("testenv: start container %q of pod %s/%s: %v", cs.Name, spec.Namespace, spec.Name, err)
		}
		pod.ContainerIDs[cs.Name] = cc.ContainerId
	}
	return pod
}

// StopContainer stops a container of pod (it then exists, not running).
func (c *Containerd) StopContainer(t testing.TB, pod *Pod, name string) {
	t.Helper()
	if _, err := c.CRI.StopContainer(t.Context(), &runtimeapi.StopContainerRequest{ContainerId: pod.ContainerIDs[name], Timeout: 0}); err != nil {
		t.Fatalf("testenv: stop container %q of pod %s/%s: %v", name, pod.Namespace, pod.Name, err)
	}
}

// ExecSync runs cmd in a container of pod through CRI ExecSync, for test
// assertions (ps, cat), and returns its stdout and exit code.
func (c *Containerd) ExecSync(t testing.TB, pod *Pod, name string, cmd ...string) (stdout string, exitCode int) {
	t.Helper()
	resp, err := c.CRI.ExecSync(t.Context(), &runtimeapi.ExecSyncRequest{ContainerId: pod.ContainerIDs[name], Cmd: cmd, Timeout: 10})
	if err != nil {
		t.Fatalf("testenv: exec %q in container %q of pod %s/%s: %v", cmd, name, pod.Namespace, pod.Name, err)
	}
	return string(resp.Stdout), int(resp.ExitCode)
}

func randomUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
