package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// nodeNameExtra is where the API server puts the node of a pod-bound
// ServiceAccount token (k8s.io/apiserver serviceaccount.NodeNameKey).
const nodeNameExtra = "authentication.kubernetes.io/node-name"

// TestAgentNodeIsolation installs the chart and acts as the agent on
// node-a, with a token of the agent's ServiceAccount bound to that agent's
// pod (what the kubelet projects into it): the status of node-a's
// NodeBackup may be written, node-b's is refused by the chart's
// ValidatingAdmissionPolicy, and so is any write with a token bound to no
// pod.
func TestAgentNodeIsolation(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qiso")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys)
	policy := sys + "-agent-node-isolation" // the release is named after its namespace
	sa := sys + "-agent"

	admin := apiClient(t, c)
	// No quiesce.dev/node label: the agents select their NodeBackups by it,
	// and these are for the API only (the policy reads spec.nodeName).
	for _, node := range cluster.Nodes {
		nb := &api.NodeBackup{
			ObjectMeta: metav1.ObjectMeta{Namespace: sys, Name: "iso-" + node},
			Spec: api.NodeBackupSpec{BackupName: "iso", NodeName: node, CaptureMode: api.CaptureStaged,
				MaxFreeze: metav1.Duration{Duration: time.Minute}, Pods: []api.PodAssignment{}},
		}
		if err := admin.Create(ctx, nb); err != nil {
			t.Fatalf("create NodeBackup %s/%s: %v", sys, nb.Name, err)
		}
	}

	pods, err := c.Client.CoreV1().Pods(sys).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agent"})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(pods.Items, func(p corev1.Pod) bool { return p.Spec.NodeName == "node-a" })
	if i < 0 {
		t.Fatalf("no agent pod on node-a in %s (%d agent pods)", sys, len(pods.Items))
	}
	agentPod := pods.Items[i]

	asAgentA := tokenClient(t, c, sys, sa, &authenticationv1.BoundObjectReference{
		Kind: "Pod", APIVersion: "v1", Name: agentPod.Name, UID: agentPod.UID})
	// The premise: the API server puts the pod's node into the token's
	// user (ServiceAccountTokenPodNodeInfo, GA and locked on since 1.32).
	if nodes := whoAmI(t, asAgentA.rest).Extra[nodeNameExtra]; !slices.Equal(nodes, authenticationv1.ExtraValue{"node-a"}) {
		t.Fatalf("token bound to pod %s/%s: user extra %s = %v, want [node-a]", sys, agentPod.Name, nodeNameExtra, nodes)
	}

	// node-b's NodeBackup is refused. The policy and its binding are
	// created with the release, and the API server loads them shortly
	// after: until then a write may go through.
	var refusal string
	err = cluster.WaitFor(ctx, time.Minute, "policy "+policy+" to refuse node-a's agent writing iso-node-b", func(ctx context.Context) (bool, string, error) {
		err := toggleDone(ctx, asAgentA.client, sys, "iso-node-b")
		if err == nil {
			return false, "write allowed", nil
		}
		refusal = err.Error()
		return strings.Contains(refusal, "ValidatingAdmissionPolicy '"+policy+"'"), refusal, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nodebackups/status " + sys + "/iso-node-b", `spec.nodeName is "node-b"`, `on node "node-a"`} {
		if !strings.Contains(refusal, want) {
			t.Errorf("refusal %q does not name %q", refusal, want)
		}
	}

	// Its own node's is allowed.
	if err := toggleDone(ctx, asAgentA.client, sys, "iso-node-a"); err != nil {
		t.Errorf("agent on node-a writing the status of its own NodeBackup iso-node-a: %v", err)
	}

	// A token of the agent's ServiceAccount bound to no pod names no node:
	// refused even for node-a's object.
	unbound := tokenClient(t, c, sys, sa, nil)
	err = toggleDone(ctx, unbound.client, sys, "iso-node-a")
	if err == nil || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+policy+"'") || !strings.Contains(err.Error(), nodeNameExtra) {
		t.Errorf("write with a token bound to no pod: %v, want refused by %s naming the missing %s", err, policy, nodeNameExtra)
	}
}

type tokenClients struct {
	rest   *rest.Config
	client client.Client
}

// tokenClient mints a token for the ServiceAccount ns/sa (bound to obj if
// not nil) and returns clients that authenticate with it alone.
func tokenClient(t *testing.T, c *cluster.Cluster, ns, sa string, obj *authenticationv1.BoundObjectReference) tokenClients {
	t.Helper()
	exp := int64(600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp, BoundObjectRef: obj},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for service account %s/%s: %v", ns, sa, err)
	}
	cfg := rest.AnonymousClientConfig(c.Config) // keeps the server and its CA, drops the admin's credentials
	cfg.BearerToken = tr.Status.Token
	cl, err := client.New(cfg, client.Options{Scheme: apiClient(t, c).Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return tokenClients{rest: cfg, client: cl}
}

// whoAmI returns the user the API server sees for cfg.
func whoAmI(t *testing.T, cfg *rest.Config) authenticationv1.UserInfo {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review: %v", err)
	}
	return r.Status.UserInfo
}

// toggleDone writes the NodeBackup's status the way the agent does (read,
// then update the status subresource), with a change each time.
func toggleDone(ctx context.Context, c client.Client, ns, name string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var nb api.NodeBackup
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &nb); err != nil {
			return fmt.Errorf("get NodeBackup %s/%s: %w", ns, name, err)
		}
		nb.Status.Done = !nb.Status.Done
		return c.Status().Update(ctx, &nb)
	})
}
