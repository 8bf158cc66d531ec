package charttest

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// agent.mountPropagation reaches both containers' kubelet pods mount
// (HostToContainer by default); a value that could only hurt is refused.
func TestChartAgentMountPropagation(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want corev1.MountPropagationMode
	}{
		{nil, corev1.MountPropagationHostToContainer},
		{[]string{"--set", "agent.mountPropagation=None"}, corev1.MountPropagationNone},
	} {
		docs, err := render(t, append([]string{"--set", "repository.password=pw"}, tc.set...)...)
		if err != nil {
			t.Fatal(err)
		}
		ds := decode[appsv1.DaemonSet](t, docs["DaemonSet"][0])
		for _, c := range ds.Spec.Template.Spec.Containers { // the agent and its thaw guard
			var found bool
			for _, m := range c.VolumeMounts {
				if m.MountPath == "/var/lib/kubelet/pods" {
					found = true
					if m.MountPropagation == nil || *m.MountPropagation != tc.want {
						t.Errorf("%v: container %s: pods mount propagation %v, want %s", tc.set, c.Name, m.MountPropagation, tc.want)
					}
				}
			}
			if !found {
				t.Errorf("container %s does not mount the kubelet's pods directory", c.Name)
			}
		}
	}
	_, err := render(t, "--set", "repository.password=pw", "--set", "agent.mountPropagation=Bidirectional")
	if err == nil || !strings.Contains(err.Error(), `agent.mountPropagation="Bidirectional"`) {
		t.Errorf("render with Bidirectional: %v, want refused naming the value", err)
	}
}
