package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// The Event is in the API when Eventf returns: a command may exit at once.
func TestSyncRecorderRecordsBeforeReturning(t *testing.T) {
	cs := fake.NewClientset()
	s, err := scheme()
	if err != nil {
		t.Fatal(err)
	}
	r := syncRecorder{cs: cs, scheme: s, source: corev1.EventSource{Component: "quiesce-verify"}}
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "nightly-1", UID: "u1"}}
	r.Eventf(b, corev1.EventTypeWarning, "VerificationFailed", "pod %s: check exited %d", "shop/db-0", 3)
	evs, err := cs.CoreV1().Events("quiesce").List(t.Context(), metav1.ListOptions{})
	if err != nil || len(evs.Items) != 1 {
		t.Fatalf("events %v, %v: want one", evs, err)
	}
	e := evs.Items[0]
	if e.InvolvedObject.Kind != "Backup" || e.InvolvedObject.Name != "nightly-1" || e.Reason != "VerificationFailed" ||
		e.Message != "pod shop/db-0: check exited 3" || e.Type != corev1.EventTypeWarning {
		t.Errorf("event %+v", e)
	}
}
