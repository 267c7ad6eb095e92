package server_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/testenv"
)

const testPolicy = `version: 1
rules:
  - name: admins
    effect: allow
    groups: [admins]
    actions: ["*"]
    secrets: ["**"]
  - name: app-team
    effect: allow
    principals: ["spiffe://test/app"]
    actions: [replicate, remove, status, operations.read, operations.cancel]
    secrets: ["prod/app/*"]
  - name: eu-operator
    effect: allow
    principals: [eu-operator]
    actions: [replicate, status, operations.read]
    secrets: ["**"]
    regions: [eu-west-1]
  - name: nobody-promotes-db
    effect: deny
    groups: [admins]
    actions: [promote]
    secrets: ["prod/db/**"]
  - name: auditors
    effect: allow
    groups: [auditors]
    actions: [audit.read]
    secrets: ["**"]
`

type secured struct {
	env    *testenv.Env
	pki    *authtest.PKI
	issuer *authtest.Issuer
}

func startSecured(t *testing.T) *secured {
	t.Helper()
	_, awsURL := standinURL(t)
	pki := authtest.NewPKI(t)
	issuer := authtest.NewIssuer(t, pki.Dir, "https://idp.test", "replicad")
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testenv.Start(t, testenv.Options{
		AWSEndpoint: awsURL,
		ClientTLS:   pki.ClientTLS(t, "spiffe://test/app"),
		Configure: func(c *daemon.Config) {
			c.InsecureDev = false
			c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
			c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
			c.PolicyFile = policyFile
		},
	})
	return &secured{env: env, pki: pki, issuer: issuer}
}

// bearer attaches a token to every call on a connection without a client
// certificate.
func (s *secured) bearerClient(t *testing.T, token string) replicadv1.ReplicationServiceClient {
	t.Helper()
	conn := s.env.Dial(t, s.pki.ClientTLS(t, ""))
	return replicadv1.NewReplicationServiceClient(&tokenConn{conn, token})
}

type tokenConn struct {
	*grpc.ClientConn
	token string
}

func (c *tokenConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return c.ClientConn.Invoke(ctx, method, args, reply, opts...)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := startSecured(t)
	ctx := context.Background()
	noCert := testenv.HTTPClient(s.pki.ClientTLS(t, ""))
	req := &replicadv1.StatusRequest{SecretId: "prod/app/x"}
	edit := func(f func(jwt.MapClaims)) string { return s.issuer.Token(t, "eu-operator", nil, f) }
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"no credentials", "", "authentication required"},
		{"expired", edit(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), "expired"},
		{"not yet valid", edit(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), "not yet valid"},
		{"wrong audience", edit(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), "audience"},
		{"wrong issuer", edit(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), "issuer"},
		{"wrong key", s.issuer.ForeignToken(t, "eu-operator"), "signature"},
		{"alg none", s.issuer.NoneToken(t, "eu-operator"), "algorithm"},
		{"not a token", "not.a.token", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.bearerClient(t, tt.token).Status(ctx, req)
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(strings.ToLower(status.Convert(err).Message()), tt.want) {
				t.Errorf("gRPC: %v, want Unauthenticated mentioning %q", err, tt.want)
			}
			if tt.token != "" && strings.Contains(status.Convert(err).Message(), tt.token) {
				t.Error("the error quotes the token")
			}
			code, body := s.env.RESTAs(t, noCert, tt.token, "GET", "/v1/secrets/prod%2Fapp%2Fx/replication", nil)
			if code != http.StatusUnauthorized {
				t.Errorf("REST: %d %s, want 401", code, body)
			}
		})
	}
	// A valid token and a valid client certificate both get in.
	if _, err := s.bearerClient(t, s.issuer.Token(t, "eu-operator", nil, nil)).Status(ctx, &replicadv1.StatusRequest{SecretId: "prod/app/absent"}); status.Code(err) != codes.NotFound {
		t.Errorf("valid token: %v, want NotFound from AWS", err)
	}
	if _, err := s.env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: "prod/app/absent"}); status.Code(err) != codes.NotFound {
		t.Errorf("valid client certificate: %v, want NotFound from AWS", err)
	}
	if code, _ := s.env.REST(t, "GET", "/v1/secrets/prod%2Fapp%2Fabsent/replication", nil); code != http.StatusNotFound {
		t.Errorf("valid client certificate over REST: %d, want 404", code)
	}
	// A certificate from a CA the server does not trust fails the handshake.
	stranger := authtest.NewPKI(t)
	foreign := s.pki.ClientTLS(t, "")
	foreign.Certificates = []tls.Certificate{stranger.ClientCert(t, "spiffe://test/app")}
	if _, err := replicadv1.NewReplicationServiceClient(s.env.Dial(t, foreign)).Status(ctx, req); err == nil || status.Code(err) == codes.OK {
		t.Error("a certificate from an unknown CA was accepted over gRPC")
	}
	if resp, err := testenv.HTTPClient(foreign).Get(s.env.BaseURL + "/v1/secrets/prod%2Fapp%2Fx/replication"); err == nil {
		resp.Body.Close()
		t.Error("a certificate from an unknown CA was accepted over REST")
	}
	// Health checks need no credentials.
	if code, _ := s.env.RESTAs(t, noCert, "", "GET", "/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz without credentials: %d", code)
	}
}
