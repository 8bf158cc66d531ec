package charttest

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// TestChartAgentWritesOnlyStatus checks the agent's grants: its
// assignments are namespaced, and of them it may only replace the status.
func TestChartAgentWritesOnlyStatus(t *testing.T) {
	docs, err := render(t, "--set", "repository.password=pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs["ClusterRole"] {
		role := decode[rbacv1.ClusterRole](t, doc)
		if !strings.HasSuffix(role.Name, "-agent") {
			continue
		}
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, "quiesce.dev") {
				t.Errorf("agent ClusterRole grants %v on quiesce.dev %v: its assignments are in the release namespace only (a Role)", r.Verbs, r.Resources)
			}
		}
	}
	var role *rbacv1.Role
	for _, doc := range docs["Role"] {
		if r := decode[rbacv1.Role](t, doc); r.Name == "quiesce-agent" {
			role = r
		}
	}
	if role == nil || role.Namespace != "quiesce" {
		t.Fatalf("no agent Role in the release namespace: %+v", role)
	}
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			status := strings.HasSuffix(res, "/status")
			for _, v := range r.Verbs {
				if read := v == "get" || v == "list" || v == "watch"; (status && v != "update") || (!status && !read) {
					t.Errorf("agent Role may %s %s: it reads its assignments and replaces their status only", v, res)
				}
			}
		}
	}
	var bound bool
	for _, doc := range docs["RoleBinding"] {
		rb := decode[rbacv1.RoleBinding](t, doc)
		bound = bound || (rb.RoleRef.Kind == "Role" && rb.RoleRef.Name == role.Name && slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == "quiesce-agent" && s.Namespace == "quiesce"
		}))
	}
	if !bound {
		t.Error("the agent Role is not bound to the agent's ServiceAccount")
	}
}
