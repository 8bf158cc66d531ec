package testcsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Listen opens the unix socket path; a socket left by an earlier process
// is replaced.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	return l, nil
}

// Serve serves the services register adds on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, log *zap.Logger, register func(*grpc.Server)) error {
	s := grpc.NewServer(grpc.UnaryInterceptor(logCalls(log)))
	register(s)
	go func() {
		<-ctx.Done()
		s.GracefulStop()
	}()
	if err := s.Serve(l); err != nil {
		return fmt.Errorf("socket %s: %w", l.Addr(), err)
	}
	return nil
}

// logCalls logs each call at Debug and each failure at Warn.
func logCalls(log *zap.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			log.Warn("call failed", zap.String("method", info.FullMethod), zap.String("code", status.Code(err).String()), zap.Error(err))
		} else {
			log.Debug("call", zap.String("method", info.FullMethod))
		}
		return resp, err
	}
}
