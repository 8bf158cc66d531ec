// Command incluster is the e2e probe of what an in-cluster client relies on:
// run as a pod, it loads the unmodified in-cluster config (the kubernetes
// Service address from the environment, the mounted service account token and
// CA), asks the API server for its version, and checks that RBAC refuses it
// the secrets of kube-system. It prints one line per check; exit 0 means all
// held.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "incluster:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("server version from %s: %w", cfg.Host, err)
	}
	fmt.Printf("host %s\nversion %s\n", cfg.Host, v.GitVersion)
	_, err = cs.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{Limit: 1})
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("list secrets in kube-system: got %v, want Forbidden (RBAC)", err)
	}
	fmt.Println("kube-system secrets forbidden")
	return nil
}
