package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/replicad/replicad/internal/auth"
)

const (
	testIssuer   = "https://idp.corp.test"
	testAudience = "replicad"
)

// signingKey is a private key and the kid/alg it is published under.
type signingKey struct {
	kid    string
	alg    string // JWK "alg"; "" publishes the key without one
	method jwt.SigningMethod
	priv   crypto.Signer
}

// testKeys are generated once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() map[string]signingKey {
	rsa1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	rsa2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]signingKey{
		"rs":     {kid: "rsa-1", alg: "RS256", method: jwt.SigningMethodRS256, priv: rsa1},
		"ps":     {kid: "rsa-2", method: jwt.SigningMethodPS256, priv: rsa2}, // no JWK alg
		"es":     {kid: "ec-1", alg: "ES256", method: jwt.SigningMethodES256, priv: ec},
		"es384":  {kid: "ec-2", alg: "ES384", method: jwt.SigningMethodES384, priv: ec384},
		"ed":     {kid: "ed-1", alg: "EdDSA", method: jwt.SigningMethodEdDSA, priv: ed},
		"rs-alt": {kid: "rsa-2", method: jwt.SigningMethodRS256, priv: rsa2},
	}
})

// jwksJSON publishes the public halves of keys.
func jwksJSON(t *testing.T, keys ...signingKey) []byte {
	t.Helper()
	var doc jwkset.JWKSMarshal
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig,
		}})
		if err != nil {
			t.Fatal(err)
		}
		doc.Keys = append(doc.Keys, j.Marshal())
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claims returns valid claims for alice, to be altered per case.
func claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":    testIssuer,
		"aud":    testAudience,
		"sub":    "alice",
		"groups": []string{"payments-oncall", "sre"},
		"iat":    now.Add(-time.Minute).Unix(),
		"nbf":    now.Add(-time.Minute).Unix(),
		"exp":    now.Add(10 * time.Minute).Unix(),
	}
}

func sign(t *testing.T, k signingKey, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, c)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// newFileAuthenticator serves the rs, ps, es and ed keys from a JWKS file.
func newFileAuthenticator(t *testing.T, mod func(*auth.Config)) *auth.Authenticator {
	t.Helper()
	k := testKeys()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksJSON(t, k["rs"], k["ps"], k["es"], k["ed"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := auth.Config{JWKSFile: path, Issuer: testIssuer, Audience: testAudience}
	if mod != nil {
		mod(&cfg)
	}
	a, err := auth.NewAuthenticator(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestJWTValid(t *testing.T) {
	t.Parallel()
	a := newFileAuthenticator(t, nil)
	k := testKeys()
	for _, name := range []string{"rs", "ps", "es", "ed"} {
		id, err := a.Authenticate(context.Background(), auth.Credentials{BearerToken: sign(t, k[name], claims())})
		if err != nil {
			t.Errorf("%s: %v", k[name].method.Alg(), err)
			continue
		}
		if id.Principal != "alice" || id.Method != auth.MethodJWT || strings.Join(id.Groups, ",") != "payments-oncall,sre" {
			t.Errorf("%s: identity %+v", k[name].method.Alg(), id)
		}
		if time.Until(id.ExpiresAt) < 9*time.Minute {
			t.Errorf("%s: ExpiresAt %v", k[name].method.Alg(), id.ExpiresAt)
		}
	}
}

func TestJWTRefused(t *testing.T) {
	t.Parallel()
	a := newFileAuthenticator(t, nil)
	k := testKeys()
	now := time.Now()

	rsaPub := k["rs"].priv.Public().(*rsa.PublicKey)
	pubDER, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hmacWith := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
		tok.Header["kid"] = k["rs"].kid
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims())
		tok.Header["kid"] = k["rs"].kid
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A key the JWKS does not hold, published under a kid it does hold,
	// and under a kid it does not.
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	impostor := signingKey{kid: k["rs"].kid, method: jwt.SigningMethodRS256, priv: stranger}
	unknown := signingKey{kid: "rotated-away", method: jwt.SigningMethodRS256, priv: stranger}
	// An RS256 token naming the EC key.
	mismatched := signingKey{kid: k["es"].kid, method: jwt.SigningMethodRS256, priv: k["rs"].priv}
	withCrit := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims())
		tok.Header["kid"] = k["es"].kid
		tok.Header["crit"] = []string{"exp"}
		s, err := tok.SignedString(k["es"].priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"expired", sign(t, k["es"], with(claims(), "exp", now.Add(-time.Hour).Unix())), auth.ErrTokenExpired},
		{"expired beyond leeway", sign(t, k["es"], with(claims(), "exp", now.Add(-45*time.Second).Unix())), auth.ErrTokenExpired},
		{"not yet valid", sign(t, k["es"], with(claims(), "nbf", now.Add(time.Hour).Unix())), auth.ErrTokenNotYetValid},
		{"issued in the future", sign(t, k["es"], with(claims(), "iat", now.Add(time.Hour).Unix())), auth.ErrTokenNotYetValid},
		{"wrong audience", sign(t, k["es"], with(claims(), "aud", "another-service")), auth.ErrTokenAudience},
		{"no audience", sign(t, k["es"], with(claims(), "aud", nil)), auth.ErrTokenClaims},
		{"wrong issuer", sign(t, k["es"], with(claims(), "iss", "https://evil.test")), auth.ErrTokenIssuer},
		{"no exp", sign(t, k["es"], with(claims(), "exp", nil)), auth.ErrTokenClaims},
		{"no sub", sign(t, k["es"], with(claims(), "sub", nil)), auth.ErrTokenClaims},
		{"sub not a string", sign(t, k["es"], with(claims(), "sub", 42)), auth.ErrTokenClaims},
		{"sub with a newline", sign(t, k["es"], with(claims(), "sub", "alice\nadmin")), auth.ErrTokenClaims},
		{"groups with a number", sign(t, k["es"], with(claims(), "groups", []any{"sre", 7})), auth.ErrTokenClaims},
		{"groups an object", sign(t, k["es"], with(claims(), "groups", map[string]any{"a": "b"})), auth.ErrTokenClaims},
		{"wrong key under a known kid", sign(t, impostor, claims()), auth.ErrTokenSignature},
		{"key not in the JWKS", sign(t, unknown, claims()), auth.ErrUnknownKey},
		{"RS256 naming an EC key", sign(t, mismatched, claims()), auth.ErrTokenSignature},
		{"alg none", none(), auth.ErrAlgorithmNotAllowed},
		{"HS256 keyed with the RSA public key PEM", hmacWith(pubPEM), auth.ErrAlgorithmNotAllowed},
		{"HS256 keyed with the RSA public key DER", hmacWith(pubDER), auth.ErrAlgorithmNotAllowed},
		{"unregistered alg", forgeHeader(t, sign(t, k["es"], claims()), `{"alg":"XX999","kid":"ec-1"}`), auth.ErrAlgorithmNotAllowed},
		{"crit header", withCrit(), auth.ErrTokenMalformed},
		{"tampered claims", swapClaims(t, sign(t, k["es"], claims()), with(claims(), "sub", "root")), auth.ErrTokenSignature},
		{"header not JSON", forgeHeader(t, sign(t, k["es"], claims()), `{"alg":"ES256"`), auth.ErrTokenMalformed},
		{"garbage", "not-a-jwt", auth.ErrTokenMalformed},
		{"two segments", "abc.def", auth.ErrTokenMalformed},
		{"huge", strings.Repeat("a", 20000) + ".b.c", auth.ErrTokenMalformed},
	}
	for _, tt := range tests {
		_, err := a.Authenticate(context.Background(), auth.Credentials{BearerToken: tt.token})
		if !errors.Is(err, auth.ErrInvalidToken) || !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want ErrInvalidToken and %v", tt.name, err, tt.want)
		}
	}
}

// forgeHeader replaces a token's header, keeping its claims and signature.
func forgeHeader(t *testing.T, token, header string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte(header))
	return strings.Join(parts, ".")
}

// swapClaims replaces a token's claims, keeping its header and signature.
func swapClaims(t *testing.T, token string, c jwt.MapClaims) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestJWTLeeway(t *testing.T) {
	t.Parallel()
	k := testKeys()
	justExpired := sign(t, k["es"], with(claims(), "exp", time.Now().Add(-10*time.Second).Unix()))
	if _, err := newFileAuthenticator(t, nil).Authenticate(context.Background(), auth.Credentials{BearerToken: justExpired}); err != nil {
		t.Errorf("10s past exp with the default 30s leeway: %v", err)
	}
	strict := newFileAuthenticator(t, func(c *auth.Config) { c.Leeway = -1 })
	if _, err := strict.Authenticate(context.Background(), auth.Credentials{BearerToken: justExpired}); !errors.Is(err, auth.ErrTokenExpired) {
		t.Errorf("10s past exp without leeway: %v", err)
	}
}

func TestJWTClaims(t *testing.T) {
	t.Parallel()
	k := testKeys()
	ctx := context.Background()

	a := newFileAuthenticator(t, nil)
	id, err := a.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, k["es"], with(claims(), "groups", "admins"))})
	if err != nil || len(id.Groups) != 1 || id.Groups[0] != "admins" {
		t.Errorf("groups as a string: %+v, %v", id, err)
	}
	id, err = a.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, k["es"], with(claims(), "groups", nil))})
	if err != nil || len(id.Groups) != 0 {
		t.Errorf("no groups claim: %+v, %v", id, err)
	}
	id, err = a.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, k["es"], with(claims(), "aud", []string{"other", testAudience}))})
	if err != nil || id.Principal != "alice" {
		t.Errorf("audience array: %+v, %v", id, err)
	}

	custom := newFileAuthenticator(t, func(c *auth.Config) {
		c.PrincipalClaim = "email"
		c.GroupsClaim = "roles"
	})
	tok := sign(t, k["ed"], with(claims(), "email", "alice@corp.test", "roles", []string{"replicator"}))
	id, err = custom.Authenticate(ctx, auth.Credentials{BearerToken: tok})
	if err != nil || id.Principal != "alice@corp.test" || strings.Join(id.Groups, ",") != "replicator" {
		t.Errorf("custom claims: %+v, %v", id, err)
	}
	if _, err := custom.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, k["ed"], claims())}); !errors.Is(err, auth.ErrTokenClaims) {
		t.Errorf("custom principal claim missing: %v", err)
	}

	// A key-id-less token is tried against every key of the right type.
	noKID := k["es"]
	noKID.kid = ""
	if _, err := a.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, noKID, claims())}); err != nil {
		t.Errorf("token without kid: %v", err)
	}
}

func TestJWTAlgorithmList(t *testing.T) {
	t.Parallel()
	k := testKeys()
	onlyEd := newFileAuthenticator(t, func(c *auth.Config) { c.Algorithms = []string{"EdDSA"} })
	if _, err := onlyEd.Authenticate(context.Background(), auth.Credentials{BearerToken: sign(t, k["rs"], claims())}); !errors.Is(err, auth.ErrAlgorithmNotAllowed) {
		t.Errorf("RS256 with only EdDSA allowed: %v", err)
	}
	if _, err := onlyEd.Authenticate(context.Background(), auth.Credentials{BearerToken: sign(t, k["ed"], claims())}); err != nil {
		t.Errorf("EdDSA with only EdDSA allowed: %v", err)
	}
}

func TestCredentialPrecedence(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	k := testKeys()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksJSON(t, k["es"]), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthenticator(context.Background(), auth.Config{
		JWKSFile: path, Issuer: testIssuer, Audience: testAudience, ClientCAs: b.reloader.ClientCAs,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := b.ca.issue(t, leafSpec{uris: []string{"spiffe://corp/ns/payments/sa/api"}})
	res := handshake(t, b.reloader.ServerTLSConfig(), b.clientConfig(client.tls))
	if res.serverErr != nil {
		t.Fatal(res.serverErr)
	}
	certs := res.server.PeerCertificates
	ctx := context.Background()

	id, err := a.Authenticate(ctx, auth.Credentials{PeerCertificates: certs, BearerToken: sign(t, k["es"], claims())})
	if err != nil || id.Principal != "alice" || id.Method != auth.MethodJWT {
		t.Errorf("token and certificate: %+v, %v; want the token's identity", id, err)
	}
	expired := sign(t, k["es"], with(claims(), "exp", time.Now().Add(-time.Hour).Unix()))
	if _, err := a.Authenticate(ctx, auth.Credentials{PeerCertificates: certs, BearerToken: expired}); !errors.Is(err, auth.ErrTokenExpired) {
		t.Errorf("bad token and good certificate: %v; want the token's error, no fallback", err)
	}
	if _, err := a.Authenticate(ctx, auth.Credentials{}); !errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("nothing: %v", err)
	}
	// Bearer tokens are refused when no JWKS is configured.
	if _, err := b.authn.Authenticate(ctx, auth.Credentials{PeerCertificates: certs, BearerToken: "abc"}); !errors.Is(err, auth.ErrJWTDisabled) || !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("token without JWKS: %v", err)
	}
}

// TestErrorsNeverContainTheToken plants a canary in every part of failing
// tokens and checks no error message carries it.
func TestErrorsNeverContainTheToken(t *testing.T) {
	t.Parallel()
	const canary = "CANARY7f3a9c"
	a := newFileAuthenticator(t, nil)
	k := testKeys()
	c := func() jwt.MapClaims { return with(claims(), "sub", canary, "jti", canary, "groups", []any{canary, 1}) }
	ghost := signingKey{kid: canary, method: jwt.SigningMethodES256, priv: k["es"].priv}
	tokens := []string{
		canary,
		canary + "." + canary + "." + canary,
		sign(t, k["es"], with(c(), "exp", time.Now().Add(-time.Hour).Unix())),
		sign(t, k["es"], with(c(), "aud", canary)),
		sign(t, k["es"], with(c(), "iss", canary)),
		sign(t, k["es"], c()), // groups with a number
		sign(t, ghost, c()),
		forgeHeader(t, sign(t, k["es"], c()), `{"alg":"`+canary+`","kid":"`+canary+`"}`),
		forgeHeader(t, sign(t, k["es"], c()), `{"alg":"ES256","kid":"ec-1"`+canary),
		swapClaims(t, sign(t, k["es"], c()), jwt.MapClaims{"sub": canary}),
		"eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+canary+`",`)) + ".sig",
	}
	for i, tok := range tokens {
		_, err := a.Authenticate(context.Background(), auth.Credentials{BearerToken: tok})
		if err == nil {
			t.Errorf("token %d accepted", i)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, canary) || strings.Contains(msg, tok) {
			t.Errorf("token %d: error message %q leaks the token", i, msg)
		}
	}
}

func TestNewAuthenticatorConfigErrors(t *testing.T) {
	t.Parallel()
	k := testKeys()
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwks, jwksJSON(t, k["es"]), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hmac"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := auth.Config{JWKSFile: jwks, Issuer: testIssuer, Audience: testAudience}
	tests := []struct {
		name string
		mod  func(*auth.Config)
		want error
	}{
		{"HS256 in the list", func(c *auth.Config) { c.Algorithms = []string{"RS256", "HS256"} }, auth.ErrConfig},
		{"none in the list", func(c *auth.Config) { c.Algorithms = []string{"none"} }, auth.ErrConfig},
		{"no issuer", func(c *auth.Config) { c.Issuer = "" }, auth.ErrConfig},
		{"no audience", func(c *auth.Config) { c.Audience = "" }, auth.ErrConfig},
		{"file and URL", func(c *auth.Config) { c.JWKSURL = "https://idp.test/jwks" }, auth.ErrConfig},
		{"plain HTTP URL", func(c *auth.Config) { c.JWKSFile = ""; c.JWKSURL = "http://idp.test/jwks" }, auth.ErrConfig},
		{"huge leeway", func(c *auth.Config) { c.Leeway = time.Hour }, auth.ErrConfig},
		{"issuer without JWKS", func(c *auth.Config) { c.JWKSFile = "" }, auth.ErrConfig},
		{"missing JWKS file", func(c *auth.Config) { c.JWKSFile = filepath.Join(dir, "nope") }, auth.ErrJWKS},
		{"only a symmetric key", func(c *auth.Config) { c.JWKSFile = empty }, auth.ErrJWKS},
	}
	for _, tt := range tests {
		cfg := ok
		tt.mod(&cfg)
		if _, err := auth.NewAuthenticator(context.Background(), cfg); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := auth.NewAuthenticator(context.Background(), ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestBearerFromAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc.def.ghi", "abc.def.ghi", true},
		{"BEARER  abc-_~+/=", "abc-_~+/=", true},
		{"  Bearer abc  ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"Bearer a\nb", "", false},
		{"Bearer ===", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"abc.def.ghi", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := auth.BearerFromAuthorization(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BearerFromAuthorization(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}
