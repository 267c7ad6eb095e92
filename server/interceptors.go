package server

import (
	"context"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverUnary turns a panic into Internal. The log carries the method and
// the stack but never the request: it may hold sensitive values, and a
// panic's message could too, so only its type is logged.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic_type", panicType(p), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

func panicType(p any) string {
	switch p.(type) {
	case error:
		return "error"
	case string:
		return "string"
	default:
		return "other"
	}
}

// callerUnary records how the request arrived and, until authentication
// says otherwise, that its principal is anonymous.
func callerUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		transport, addr := transportOf(ctx)
		return handler(withCaller(ctx, &Caller{Principal: Anonymous, Address: addr, Transport: transport}), req)
	}
}
