package server_test

import (
	"context"
	"crypto/tls"
	"io"
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

// startSecured starts replicad with TLS, mutual TLS, JWT and the test
// policy; logs, if set, receives its logs; configure adjusts the rest.
func startSecured(t *testing.T, logs io.Writer, configure ...func(*daemon.Config)) *secured {
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
		Logs:        logs,
		Configure: func(c *daemon.Config) {
			c.InsecureDev = false
			c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
			c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
			c.PolicyFile = policyFile
			for _, f := range configure {
				f(c)
			}
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
	s := startSecured(t, nil)
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

// An unauthenticated caller learns nothing about the server's
// configuration from a refusal: a token naming an unknown key makes the
// server re-read its JWKS, which fails (the file is gone); the caller is
// told the key is unknown, and only the log says why the keys could not be
// refreshed.
func TestAuthFailuresDoNotDescribeTheServer(t *testing.T) {
	t.Parallel()
	logs := &testenv.Buffer{}
	s := startSecured(t, logs, func(c *daemon.Config) { c.JWKSMinRefresh = time.Nanosecond })
	if err := os.Remove(s.issuer.JWKSFile); err != nil {
		t.Fatal(err)
	}
	token := s.issuer.TokenWithKID(t, "eu-operator", "rotated-key-2")
	leaks := []string{"jwks", "JWKS", "no such file", filepath.Base(s.issuer.JWKSFile), s.pki.Dir, "open "}
	_, err := s.bearerClient(t, token).Status(context.Background(), &replicadv1.StatusRequest{SecretId: "prod/app/x"})
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(msg, "unknown key") {
		t.Fatalf("gRPC: %v, want Unauthenticated saying the key is unknown", err)
	}
	code, body := s.env.RESTAs(t, testenv.HTTPClient(s.pki.ClientTLS(t, "")), token, "GET", "/v1/secrets/prod%2Fapp%2Fx/replication", nil)
	if code != http.StatusUnauthorized {
		t.Fatalf("REST: %d %s", code, body)
	}
	for _, leak := range leaks {
		if strings.Contains(msg, leak) || strings.Contains(string(body), leak) {
			t.Errorf("the refusal tells the caller %q: gRPC %q, REST %s", leak, msg, body)
		}
	}
	// The operator still learns what is wrong.
	if !strings.Contains(logs.String(), "no such file") || !strings.Contains(logs.String(), "authentication failed") {
		t.Errorf("the log does not say why the JWKS could not be loaded:\n%s", logs.String())
	}
}
