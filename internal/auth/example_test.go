package auth_test

import (
	"context"
	"crypto/tls"
	"log/slog"

	"github.com/replicad/replicad/internal/auth"
)

// A server builds one TLSReloader for both listeners and one
// Authenticator, keeps both current with Watch, and authenticates each
// request from its certificate chain and Authorization header, whichever
// transport it came by.
func ExampleAuthenticator() {
	ctx := context.Background()
	onError := func(err error) { slog.Error("auth reload failed; previous state stays", "err", err) }

	certs, err := auth.NewTLSReloader(auth.TLSOptions{
		CertFile:     "/etc/replicad/tls/tls.crt",
		KeyFile:      "/etc/replicad/tls/tls.key",
		ClientCAFile: "/etc/replicad/tls/client-ca.pem",
	})
	if err != nil {
		slog.Error("TLS", "err", err)
		return
	}
	go certs.Watch(ctx, onError)

	authn, err := auth.NewAuthenticator(ctx, auth.Config{
		JWKSURL:   "https://idp.corp.example/.well-known/jwks.json",
		Issuer:    "https://idp.corp.example",
		Audience:  "replicad",
		ClientCAs: certs.ClientCAs,
	})
	if err != nil {
		slog.Error("auth", "err", err)
		return
	}
	go authn.Watch(ctx, onError)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", certs.ServerTLSConfig())
	if err != nil {
		return
	}
	defer ln.Close()

	// Per request (gRPC: from peer.AuthInfo and the "authorization"
	// metadata; REST: what the gateway forwarded):
	var state tls.ConnectionState
	header := "Bearer eyJ..."
	creds := auth.Credentials{PeerCertificates: state.PeerCertificates}
	if tok, ok := auth.BearerFromAuthorization(header); ok {
		creds.BearerToken = tok
	}
	id, err := authn.Authenticate(ctx, creds)
	if err != nil {
		// Map to codes.Unauthenticated; the message holds no token.
		return
	}
	_ = id.Principal
}
