package auth

import (
	"cmp"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults for Config's zero-valued fields.
const (
	// JWKSRefreshIntervalDefault is how often Watch refetches the JWKS, so
	// keys the identity provider withdrew stop being accepted.
	JWKSRefreshIntervalDefault = 10 * time.Minute
	// JWKSMinRefreshIntervalDefault is the least time between two fetches
	// triggered by unknown key ids.
	JWKSMinRefreshIntervalDefault = 30 * time.Second
	// JWKSFetchTimeoutDefault bounds one HTTPS fetch of the JWKS.
	JWKSFetchTimeoutDefault = 10 * time.Second
	// LeewayDefault absorbs clock skew between us and the token issuer.
	LeewayDefault = 30 * time.Second
	// MaxLeeway is the largest Leeway accepted: more would stretch every
	// token's lifetime noticeably.
	MaxLeeway = 5 * time.Minute
	// PrincipalClaimDefault is the claim the principal is read from.
	PrincipalClaimDefault = "sub"
	// GroupsClaimDefault is the claim groups are read from.
	GroupsClaimDefault = "groups"
)

// DefaultAlgorithms returns the JWS algorithms accepted when
// Config.Algorithms is empty: every asymmetric one we support except ES512,
// which few issuers use.
func DefaultAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
}

// supportedAlgorithms may appear in Config.Algorithms. "none" and HS* are
// absent on purpose: see the package documentation.
const supportedAlgorithms = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA"

// Config configures an Authenticator. The zero value accepts client
// certificates only; setting JWKSFile or JWKSURL (with Issuer and Audience)
// also accepts bearer tokens.
type Config struct {
	// JWKSFile is a file holding the JWKS that verifies bearer tokens.
	// Default "": see JWKSURL. At most one of the two may be set.
	JWKSFile string
	// JWKSURL is an https:// URL serving the JWKS (an identity provider's
	// jwks_uri). Default "": without JWKSFile either, tokens are refused
	// with ErrJWTDisabled.
	JWKSURL string
	// JWKSHTTPClient fetches JWKSURL. Default: a client with
	// JWKSFetchTimeoutDefault that refuses redirects to plain HTTP.
	JWKSHTTPClient *http.Client
	// JWKSRefreshInterval is how often Watch refetches the JWKS. Default
	// JWKSRefreshIntervalDefault.
	JWKSRefreshInterval time.Duration
	// JWKSMinRefreshInterval is the least time between fetches caused by
	// tokens naming an unknown key id. Default
	// JWKSMinRefreshIntervalDefault.
	JWKSMinRefreshInterval time.Duration
	// Issuer is the required "iss". Required with a JWKS.
	Issuer string
	// Audience must be one of the token's "aud" values. Required with a
	// JWKS.
	Audience string
	// Algorithms are the accepted JWS "alg" values. Default
	// DefaultAlgorithms(). "none" and HS* are refused.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat. Default
	// LeewayDefault; negative means none; at most MaxLeeway.
	Leeway time.Duration
	// PrincipalClaim names the claim holding the principal, a non-empty
	// string. Default PrincipalClaimDefault ("sub").
	PrincipalClaim string
	// GroupsClaim names the claim holding groups: a string (one group) or an
	// array of strings; absent means no groups. Default GroupsClaimDefault.
	GroupsClaim string
	// ClientCAs, when set, returns the current client CA bundle (use
	// TLSReloader.ClientCAs). Authenticate then re-verifies every
	// certificate chain against it, so removing a CA from the bundle also
	// cuts off connections opened before the removal. Default nil: chains
	// are trusted as crypto/tls verified them at the handshake.
	ClientCAs func() *x509.CertPool
}

// Authenticator turns Credentials into an Identity. It is safe for
// concurrent use.
type Authenticator struct {
	clientCAs       func() *x509.CertPool
	tokens          *tokenVerifier // nil when bearer tokens are disabled
	refreshInterval time.Duration
}

// NewAuthenticator validates cfg and, when a JWKS is configured, loads it
// once: a JWKS that cannot be read or has no usable key is an error, so a
// misconfigured server fails at start rather than refusing every token.
func NewAuthenticator(ctx context.Context, cfg Config) (*Authenticator, error) {
	a := &Authenticator{clientCAs: cfg.ClientCAs}
	if cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		if cfg.Issuer != "" || cfg.Audience != "" || len(cfg.Algorithms) > 0 {
			return nil, fmt.Errorf("%w: Issuer, Audience or Algorithms set without JWKSFile or JWKSURL", ErrConfig)
		}
		return a, nil
	}
	v, err := newTokenVerifier(cfg)
	if err != nil {
		return nil, err
	}
	if err := v.keys.refresh(ctx); err != nil {
		return nil, err
	}
	a.tokens = v
	a.refreshInterval = cfg.JWKSRefreshInterval
	if a.refreshInterval <= 0 {
		a.refreshInterval = JWKSRefreshIntervalDefault
	}
	return a, nil
}

func newTokenVerifier(cfg Config) (*tokenVerifier, error) {
	if cfg.JWKSFile != "" && cfg.JWKSURL != "" {
		return nil, fmt.Errorf("%w: set JWKSFile or JWKSURL, not both", ErrConfig)
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: Issuer and Audience are required to accept bearer tokens", ErrConfig)
	}
	keys := &keySource{minRefresh: cfg.JWKSMinRefreshInterval}
	if keys.minRefresh <= 0 {
		keys.minRefresh = JWKSMinRefreshIntervalDefault
	}
	if cfg.JWKSFile != "" {
		keys.fetch = fileFetcher(cfg.JWKSFile)
	} else {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			// Over plain HTTP anyone on the path could swap in their own keys.
			return nil, fmt.Errorf("%w: JWKSURL must be an https:// URL", ErrConfig)
		}
		client := cfg.JWKSHTTPClient
		if client == nil {
			client = defaultJWKSClient()
		}
		keys.fetch = httpsFetcher(client, u)
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
	}
	for _, alg := range algs {
		if !slices.Contains(strings.Fields(supportedAlgorithms), alg) {
			return nil, fmt.Errorf("%w: algorithm %q not supported (only asymmetric ones: %s)", ErrConfig, alg, supportedAlgorithms)
		}
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = LeewayDefault
	case leeway < 0:
		leeway = 0
	case leeway > MaxLeeway:
		return nil, fmt.Errorf("%w: Leeway above %s", ErrConfig, MaxLeeway)
	}
	principalClaim := cmp.Or(cfg.PrincipalClaim, PrincipalClaimDefault)
	groupsClaim := cmp.Or(cfg.GroupsClaim, GroupsClaimDefault)
	return newVerifier(keys, slices.Clone(algs), cfg.Issuer, cfg.Audience, leeway, principalClaim, groupsClaim), nil
}

// Authenticate identifies the caller. A bearer token, when present, must
// verify (a client certificate is then ignored); otherwise the client
// certificate identifies the caller; with neither it returns
// ErrNoCredentials. See the package documentation for the rules.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (Identity, error) {
	switch {
	case c.BearerToken != "":
		if a.tokens == nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, ErrJWTDisabled)
		}
		return a.tokens.verify(ctx, c.BearerToken)
	case len(c.PeerCertificates) > 0:
		return a.authenticateCertificate(c.PeerCertificates)
	default:
		return Identity{}, ErrNoCredentials
	}
}

func (a *Authenticator) authenticateCertificate(chain []*x509.Certificate) (Identity, error) {
	leaf := chain[0]
	if leaf == nil {
		return Identity{}, fmt.Errorf("%w: empty chain", ErrInvalidCertificate)
	}
	if a.clientCAs != nil {
		pool := a.clientCAs()
		if pool == nil {
			return Identity{}, fmt.Errorf("%w: %w: no client CA bundle", ErrInvalidCertificate, ErrCertificateUntrusted)
		}
		intermediates := x509.NewCertPool()
		for _, c := range chain[1:] {
			if c != nil {
				intermediates.AddCert(c)
			}
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         pool,
			Intermediates: intermediates,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			// x509's message names certificates, which are public.
			return Identity{}, fmt.Errorf("%w: %w: %w", ErrInvalidCertificate, ErrCertificateUntrusted, err)
		}
	}
	principal, err := certificatePrincipal(leaf)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Principal: principal, Method: MethodMTLS, ExpiresAt: leaf.NotAfter}, nil
}

// certificatePrincipal picks the first URI SAN, else the first DNS SAN,
// else the Subject CN. SANs come first because they are what modern
// workload identities (SPIFFE) and hostname verification use; CN is the
// legacy fallback.
func certificatePrincipal(leaf *x509.Certificate) (string, error) {
	var p string
	switch {
	case len(leaf.URIs) > 0:
		p = leaf.URIs[0].String()
	case len(leaf.DNSNames) > 0:
		p = leaf.DNSNames[0]
	default:
		p = leaf.Subject.CommonName
	}
	if p == "" || !printable(p) {
		return "", fmt.Errorf("%w: %w", ErrInvalidCertificate, ErrCertificateNoIdentity)
	}
	return p, nil
}

// Watch refetches the JWKS every JWKSRefreshInterval until ctx is done,
// reporting failures to onError (which may be nil); the previous keys stay
// in use after a failure. Without a JWKS it returns at once.
func (a *Authenticator) Watch(ctx context.Context, onError func(error)) {
	if a.tokens == nil {
		return
	}
	for sleepCtx(ctx, a.refreshInterval) {
		if err := a.tokens.keys.refresh(ctx); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}

// RefreshKeys refetches the JWKS now (for SIGHUP). Without a JWKS it does
// nothing.
func (a *Authenticator) RefreshKeys(ctx context.Context) error {
	if a.tokens == nil {
		return nil
	}
	return a.tokens.keys.refresh(ctx)
}

// printable reports whether s has no control characters, so an identity
// can go into logs and audit records as is.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return len(s) <= maxIdentityBytes
}

// maxIdentityBytes bounds principals and group names.
const maxIdentityBytes = 1024
