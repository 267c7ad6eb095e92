package server

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/auth"
)

// Authenticator identifies callers (package auth).
type Authenticator interface {
	Authenticate(ctx context.Context, c auth.Credentials) (auth.Identity, error)
}

// Authorizer decides what a caller may do (package policy).
type Authorizer interface {
	Decide(req access.Request) access.Decision
}

// Unauthenticated is the principal recorded for requests whose credentials
// were missing or refused.
const Unauthenticated = "unauthenticated"

// mdClientCert carries the REST client's verified certificate chain (DER,
// leaf first) from the gateway to the gRPC server, in-process only.
const mdClientCert = "x-replicad-client-cert-bin"

// unauthenticatedMethods may be called without credentials: health checks
// come from load balancers and kubelets that hold none.
func unauthenticatedMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.")
}

// authnUnary authenticates every request (REST included: the gateway
// forwards the HTTP client's Authorization header and verified certificate)
// and records the identity on the request's Caller.
func authnUnary(a Authenticator, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if unauthenticatedMethod(info.FullMethod) {
			return handler(ctx, req)
		}
		c := CallerFrom(ctx)
		creds, err := credentialsFrom(ctx, c.Transport)
		if err == nil {
			var id auth.Identity
			if id, err = a.Authenticate(ctx, creds); err == nil {
				c.Principal, c.Groups, c.Authenticated = id.Principal, id.Groups, true
				return handler(ctx, req)
			}
		}
		c.Principal = Unauthenticated
		if errors.Is(err, auth.ErrNoCredentials) {
			return nil, status.Error(codes.Unauthenticated, "authentication required: present a client certificate or a bearer token")
		}
		// The detail stays in the log: a wrapped cause can describe the
		// server's configuration (a JWKS file that cannot be read, a CA
		// bundle), which is no business of an unauthenticated caller.
		level := slog.LevelDebug
		if serverSide(err) {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "authentication failed", "method", info.FullMethod, "transport", c.Transport, "error", err.Error())
		return nil, status.Error(codes.Unauthenticated, "authentication failed: "+publicAuthError(err))
	}
}

// publicAuthError is what a refused caller is told: the fixed text of the
// most specific reason auth gives, never the wrapped causes.
func publicAuthError(err error) string {
	for _, reason := range []error{
		auth.ErrTokenExpired, auth.ErrTokenNotYetValid, auth.ErrTokenIssuer, auth.ErrTokenAudience,
		auth.ErrTokenSignature, auth.ErrAlgorithmNotAllowed, auth.ErrUnknownKey, auth.ErrTokenClaims,
		auth.ErrTokenMalformed, auth.ErrJWTDisabled, auth.ErrCertificateNoIdentity, auth.ErrCertificateUntrusted,
	} {
		if errors.Is(err, reason) {
			return reason.Error()
		}
	}
	switch {
	case errors.Is(err, errBadAuthorization):
		return errBadAuthorization.Error()
	case errors.Is(err, auth.ErrInvalidToken):
		return auth.ErrInvalidToken.Error()
	case errors.Is(err, auth.ErrInvalidCertificate):
		return auth.ErrInvalidCertificate.Error()
	}
	return "credentials refused"
}

// serverSide reports an authentication failure caused by the server's own
// state (keys or certificates it cannot load) rather than by the caller.
func serverSide(err error) bool {
	return errors.Is(err, auth.ErrJWKS) || errors.Is(err, auth.ErrTLSFiles) || errors.Is(err, auth.ErrConfig)
}

var errBadAuthorization = errors.New("the authorization header is not a bearer token")

// credentialsFrom collects what the request presented: a bearer token from
// the authorization metadata, and a client certificate chain verified by
// TLS — from the connection for gRPC, or from the gateway for REST (trusted
// only on the gateway's in-process connection).
func credentialsFrom(ctx context.Context, transport string) (auth.Credentials, error) {
	var c auth.Credentials
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		tok, ok := auth.BearerFromAuthorization(v[0])
		if !ok {
			return c, errBadAuthorization
		}
		c.BearerToken = tok
	}
	if transport == TransportREST {
		for _, der := range md.Get(mdClientCert) {
			cert, err := x509.ParseCertificate([]byte(der))
			if err != nil {
				return c, auth.ErrInvalidCertificate
			}
			c.PeerCertificates = append(c.PeerCertificates, cert)
		}
		return c, nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
			c.PeerCertificates = info.State.VerifiedChains[0]
		}
	}
	return c, nil
}

// clientCertMetadata passes the REST client's verified chain to the server.
func clientCertMetadata(r *http.Request) metadata.MD {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil
	}
	md := metadata.MD{}
	for _, cert := range r.TLS.VerifiedChains[0] {
		md.Append(mdClientCert, string(cert.Raw))
	}
	return md
}

// authorize asks the policy whether the caller may do action on secret in
// regions. Without an Authorizer (development) everything is allowed.
func authorize(ctx context.Context, authz Authorizer, action, secret string, regions []string) error {
	if authz == nil {
		return nil
	}
	c := CallerFrom(ctx)
	d := authz.Decide(access.Request{Principal: c.Principal, Groups: c.Groups, Action: action, Secret: secret, Regions: regions})
	if d.Allowed {
		return nil
	}
	return d.Err()
}
