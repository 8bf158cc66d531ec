package main

import (
	"fmt"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// kubeFlags are the API-server connection flags shared by the commands that
// talk to a cluster, read as kubectl reads them: --kubeconfig, else the
// files of $KUBECONFIG merged, else ~/.kube/config, else in-cluster; the
// kubeconfig's current context unless --context names another.
//
// Unlike kubectl, -n defaults to quiesce's own namespace, not the context's:
// Backups, Restores and agents live where the chart is installed, whatever
// namespace the user's context works in.
type kubeFlags struct {
	kubeconfig string
	context    string
	namespace  string
}

func (k *kubeFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&k.context, "context", "", "kubeconfig context to use (default: its current context)")
	fs.StringVarP(&k.namespace, "namespace", "n", "quiesce", "namespace of quiesce's Backups, NodeBackups and agents (where the chart is installed)")
}

func (k *kubeFlags) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.kubeconfig != "" {
		rules.ExplicitPath = k.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config: %w (pass --kubeconfig or --context, or run in a pod)", err)
	}
	cfg.UserAgent = "quiesce/" + version
	return cfg, nil
}

// bulkRestConfig is restConfig for clients that touch every object of a
// scope (storing a backup's objects, recreating them): client-go's default
// of 5 requests per second would make a namespace of a few hundred objects
// take minutes.
func (k *kubeFlags) bulkRestConfig() (*rest.Config, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

func scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := api.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

func (k *kubeFlags) client() (client.WithWatch, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, err
	}
	return clientFor(cfg)
}

// bulkClient is client with bulkRestConfig's rate: the coordinator's, which
// writes a NodeBackup per node (or chunk) and their group gates.
func (k *kubeFlags) bulkClient() (client.WithWatch, error) {
	cfg, err := k.bulkRestConfig()
	if err != nil {
		return nil, err
	}
	return clientFor(cfg)
}

func clientFor(cfg *rest.Config) (client.WithWatch, error) {
	s, err := scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}

// eventRecorder returns a recorder that sends Events in the background, and
// a function that flushes and stops it.
func (k *kubeFlags) eventRecorder(component, host string) (record.EventRecorder, func(), error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	s, err := scheme()
	if err != nil {
		return nil, nil, err
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	return b.NewRecorder(s, corev1.EventSource{Component: component, Host: host}), b.Shutdown, nil
}
