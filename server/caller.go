package server

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Transports a request can arrive by.
const (
	TransportGRPC = "grpc"
	TransportREST = "rest"
)

// Anonymous is the principal of unauthenticated callers (--insecure-dev).
const Anonymous = "anonymous"

// Caller is who sent a request and how.
type Caller struct {
	// Principal is the authenticated identity, or Anonymous.
	Principal string
	Groups    []string
	// Authenticated is false for Anonymous.
	Authenticated bool
	// Address is the client's network address: for REST, the HTTP client's,
	// not the gateway's.
	Address string
	// Transport is TransportGRPC or TransportREST.
	Transport string
}

type callerKey struct{}

// withCaller stores the request's Caller. It is a pointer shared by every
// interceptor of the request: authentication, running inside the audit
// interceptor, fills in the principal the audit event then records.
func withCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the request's caller.
func CallerFrom(ctx context.Context) *Caller {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	if !ok {
		return &Caller{Principal: Anonymous, Transport: TransportGRPC}
	}
	return c
}

// gatewayAddr marks connections from the in-process REST gateway.
type gatewayAddr struct{}

func (gatewayAddr) Network() string { return "replicad-gateway" }
func (gatewayAddr) String() string  { return "gateway" }

// transportOf tells REST from gRPC by the connection a request came on:
// only the gateway uses the in-process listener, so metadata the gateway
// sets (the HTTP client's address, its verified certificate) is trusted only
// there and ignored from network clients, who could forge it.
func transportOf(ctx context.Context) (transport, address string) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return TransportGRPC, ""
	}
	if _, fromGateway := p.Addr.(gatewayAddr); !fromGateway {
		return TransportGRPC, p.Addr.String()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(mdClientAddress); len(v) > 0 {
		return TransportREST, v[0]
	}
	if v := md.Get("x-forwarded-for"); len(v) > 0 {
		return TransportREST, strings.TrimSpace(strings.Split(v[0], ",")[0])
	}
	return TransportREST, ""
}

// mdClientAddress carries the REST client's address from the gateway.
const mdClientAddress = "x-replicad-client-address"
