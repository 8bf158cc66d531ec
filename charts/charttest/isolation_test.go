package charttest

import (
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
)

// nodeNameExtra is the user extra key under which the API server puts the
// node of a pod-bound ServiceAccount token (k8s.io/apiserver
// pkg/authentication/serviceaccount.NodeNameKey).
const nodeNameExtra = "authentication.kubernetes.io/node-name"

// TestChartNodeIsolationPolicy checks the policy that binds each agent to
// its own node's NodeBackups and NodeRestores: whom it matches, what it
// matches, and the expressions that decide.
func TestChartNodeIsolationPolicy(t *testing.T) {
	docs, err := render(t, "--set", "repository.password=pw")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs["ValidatingAdmissionPolicy"]) != 1 || len(docs["ValidatingAdmissionPolicyBinding"]) != 1 {
		t.Fatalf("want one ValidatingAdmissionPolicy and one binding by default, got %d and %d",
			len(docs["ValidatingAdmissionPolicy"]), len(docs["ValidatingAdmissionPolicyBinding"]))
	}
	p := decode[admissionv1.ValidatingAdmissionPolicy](t, docs["ValidatingAdmissionPolicy"][0])
	b := decode[admissionv1.ValidatingAdmissionPolicyBinding](t, docs["ValidatingAdmissionPolicyBinding"][0])

	if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionv1.Fail {
		t.Errorf("failurePolicy = %v, want Fail: an expression that errs must refuse, not admit", p.Spec.FailurePolicy)
	}
	if p.Spec.ParamKind != nil {
		t.Errorf("paramKind = %+v, want none (the policy is complete in itself)", p.Spec.ParamKind)
	}

	// What it matches: both kinds, with and without their status, on every
	// write (PATCH reaches admission as UPDATE).
	mc := p.Spec.MatchConstraints
	if mc == nil || len(mc.ResourceRules) != 1 {
		t.Fatalf("matchConstraints = %+v, want one resource rule", mc)
	}
	r := mc.ResourceRules[0]
	if !slices.Equal(r.APIGroups, []string{"quiesce.dev"}) || !slices.Equal(r.APIVersions, []string{"*"}) {
		t.Errorf("rule groups %v versions %v, want quiesce.dev, every version", r.APIGroups, r.APIVersions)
	}
	for _, op := range []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete} {
		if !slices.Contains(r.Operations, op) {
			t.Errorf("rule operations %v lack %s", r.Operations, op)
		}
	}
	for _, res := range []string{"nodebackups", "nodebackups/status", "noderestores", "noderestores/status"} {
		if !slices.Contains(r.Resources, res) {
			t.Errorf("rule resources %v lack %s", r.Resources, res)
		}
	}
	if mc.NamespaceSelector != nil && len(mc.NamespaceSelector.MatchLabels)+len(mc.NamespaceSelector.MatchExpressions) > 0 {
		t.Errorf("namespaceSelector = %+v, want every namespace", mc.NamespaceSelector)
	}

	// Whom it matches: exactly the agent's ServiceAccount, the one the
	// DaemonSet runs as.
	ds := decode[appsv1.DaemonSet](t, docs["DaemonSet"][0])
	user := "system:serviceaccount:quiesce:" + ds.Spec.Template.Spec.ServiceAccountName
	if len(p.Spec.MatchConditions) != 1 || p.Spec.MatchConditions[0].Expression != `request.userInfo.username == "`+user+`"` {
		t.Errorf("matchConditions = %+v, want only the agent's ServiceAccount %s", p.Spec.MatchConditions, user)
	}

	vars := map[string]string{}
	for _, v := range p.Spec.Variables {
		vars[v.Name] = v.Expression
	}
	wantCaller := "has(request.userInfo.extra) && " +
		"'" + nodeNameExtra + "' in request.userInfo.extra && " +
		"size(request.userInfo.extra['" + nodeNameExtra + "']) == 1 " +
		"? request.userInfo.extra['" + nodeNameExtra + "'][0] : ''"
	if vars["callerNode"] != wantCaller {
		t.Errorf("variable callerNode =\n  %s\nwant\n  %s", vars["callerNode"], wantCaller)
	}

	// The request's empty fields are absent, not "": read without has(),
	// they fail the message, which then falls back to the static one.
	for _, f := range []string{"subResource", "namespace", "name"} {
		if !strings.Contains(vars["target"], "has(request."+f+")") {
			t.Errorf("variable target = %q reads request.%s without has()", vars["target"], f)
		}
	}

	// The decisions, in order: the first refusal is the one reported, so
	// a token without a node is named as such.
	want := []string{
		"variables.callerNode != ''",
		"object == null || object.spec.nodeName == variables.callerNode",
		"oldObject == null || oldObject.spec.nodeName == variables.callerNode",
	}
	if len(p.Spec.Validations) != len(want) {
		t.Fatalf("validations %+v, want %d", p.Spec.Validations, len(want))
	}
	for i, v := range p.Spec.Validations {
		if v.Expression != want[i] {
			t.Errorf("validation %d = %q, want %q", i, v.Expression, want[i])
		}
		if v.Reason == nil || *v.Reason != "Forbidden" || v.Message == "" {
			t.Errorf("validation %d: reason %v, message %q: want Forbidden and a static message (used when the expression fails)", i, v.Reason, v.Message)
		}
		// The message names what was refused and why: the object, its
		// node, the caller's node.
		for _, part := range []string{"request.operation", "variables.target", "refused"} {
			if !strings.Contains(v.MessageExpression, part) {
				t.Errorf("validation %d messageExpression %q lacks %s", i, v.MessageExpression, part)
			}
		}
		if i > 0 && (!strings.Contains(v.MessageExpression, "spec.nodeName") || !strings.Contains(v.MessageExpression, "variables.callerNode")) {
			t.Errorf("validation %d messageExpression %q must name the object's spec.nodeName and the caller's node", i, v.MessageExpression)
		}
	}
	// object is null on DELETE, oldObject on CREATE, and every
	// messageExpression is evaluated on a refusal.
	for i, guard := range map[int]string{1: "object != null ?", 2: "oldObject != null ?"} {
		if !strings.Contains(p.Spec.Validations[i].MessageExpression, guard) {
			t.Errorf("validation %d messageExpression %q reads its object without %q", i, p.Spec.Validations[i].MessageExpression, guard)
		}
	}
	if !strings.Contains(p.Spec.Validations[0].MessageExpression, nodeNameExtra) {
		t.Errorf("messageExpression %q must name the missing extra %s", p.Spec.Validations[0].MessageExpression, nodeNameExtra)
	}

	// The binding enforces it everywhere.
	if b.Spec.PolicyName != p.Name || !slices.Equal(b.Spec.ValidationActions, []admissionv1.ValidationAction{admissionv1.Deny}) {
		t.Errorf("binding %s: policy %q actions %v, want %q and [Deny]", b.Name, b.Spec.PolicyName, b.Spec.ValidationActions, p.Name)
	}
	if b.Spec.ParamRef != nil || b.Spec.MatchResources != nil {
		t.Errorf("binding narrows the policy (paramRef %+v, matchResources %+v): want it applied as is", b.Spec.ParamRef, b.Spec.MatchResources)
	}
}

func TestChartNodeIsolationPolicyToggle(t *testing.T) {
	docs, err := render(t, "--set", "repository.password=pw", "--set", "agent.nodeIsolationPolicy=false")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(docs["ValidatingAdmissionPolicy"]) + len(docs["ValidatingAdmissionPolicyBinding"]); n != 0 {
		t.Errorf("agent.nodeIsolationPolicy=false still renders %d policy objects", n)
	}
	if len(docs["DaemonSet"]) != 1 {
		t.Errorf("the toggle must remove the policy only")
	}
}
