package testcsi

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Registration answers the kubelet's plugin watcher on the socket the
// driver puts in the kubelet's plugins_registry directory: what the plugin
// is and where its CSI socket is. It is the part node-driver-registrar
// plays in other deployments.
type Registration struct {
	registerapi.UnimplementedRegistrationServer
	Driver string
	// Endpoint is the CSI socket as the kubelet sees it (a host path).
	Endpoint string
	Log      *zap.Logger
	// Failed receives the kubelet's refusal; the driver exits on it, so
	// that its restart registers again.
	Failed chan<- error
}

// Register adds the registration service to s.
func (r *Registration) Register(s *grpc.Server) { registerapi.RegisterRegistrationServer(s, r) }

func (r *Registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: r.Driver, Endpoint: r.Endpoint,
		SupportedVersions: []string{"1.0.0"}}, nil
}

func (r *Registration) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.PluginRegistered {
		r.Log.Info("registered with the kubelet", zap.String("driver", r.Driver), zap.String("endpoint", r.Endpoint))
		return &registerapi.RegistrationStatusResponse{}, nil
	}
	err := fmt.Errorf("kubelet refused driver %s: %s", r.Driver, st.Error)
	select {
	case r.Failed <- err:
	default:
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}
