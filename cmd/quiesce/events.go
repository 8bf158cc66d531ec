package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
)

// syncRecorder records each Event with one API call before it returns. A
// command that exits right after its last Event (backup verify) cannot use
// a broadcaster: its background send is cut off when the process ends, and
// the Event is lost.
type syncRecorder struct {
	cs     kubernetes.Interface
	scheme *runtime.Scheme
	source corev1.EventSource
}

var _ record.EventRecorder = syncRecorder{}

// syncEventRecorder is eventRecorder's synchronous sibling, for short-lived
// commands.
func (k *kubeFlags) syncEventRecorder(component string) (record.EventRecorder, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	s, err := scheme()
	if err != nil {
		return nil, err
	}
	return syncRecorder{cs: cs, scheme: s, source: corev1.EventSource{Component: component}}, nil
}

func (r syncRecorder) Event(obj runtime.Object, typ, reason, message string) {
	ref, err := reference.GetReference(r.scheme, obj)
	if err != nil {
		fmt.Fprintf(os.Stderr, "event %s not recorded: %v\n", reason, err)
		return
	}
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: ref.Name + ".", Namespace: ref.Namespace},
		InvolvedObject: *ref, Reason: reason, Message: message, Type: typ, Source: r.source,
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.cs.CoreV1().Events(ref.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		fmt.Fprintf(os.Stderr, "event %s on %s/%s not recorded: %v\n", reason, ref.Namespace, ref.Name, err)
	}
}

func (r syncRecorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	r.Event(obj, typ, reason, fmt.Sprintf(format, args...))
}

func (r syncRecorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, typ, reason, format string, args ...any) {
	r.Eventf(obj, typ, reason, format, args...)
}
