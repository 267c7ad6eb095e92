package auth

import (
	"crypto/x509"
	"strings"
	"time"
)

// Authentication methods, as Identity.Method reports them.
const (
	MethodMTLS = "mtls"
	MethodJWT  = "jwt"
)

// Identity is an authenticated caller.
type Identity struct {
	// Principal is the caller's id: a certificate's URI SAN, DNS SAN or CN,
	// or a token's principal claim.
	Principal string
	// Groups come from the token's groups claim; certificates carry none.
	Groups []string
	// Method is MethodMTLS or MethodJWT.
	Method string
	// ExpiresAt is when the credential stops being valid (the leaf's
	// NotAfter, or the token's exp), for callers that cache identities.
	ExpiresAt time.Time
}

// Credentials are what a request arrived with, independent of transport.
type Credentials struct {
	// PeerCertificates is the client's certificate chain, leaf first, as
	// crypto/tls's ConnectionState.PeerCertificates gives it after it has
	// verified the chain. Empty when the client sent no certificate.
	PeerCertificates []*x509.Certificate
	// BearerToken is the raw token, without the "Bearer " prefix (see
	// BearerFromAuthorization). Empty when the request had none.
	BearerToken string
}

// BearerFromAuthorization extracts the token from an Authorization header
// value ("Bearer <token>", scheme case-insensitive, RFC 6750 section 2.1).
// It reports false for an empty header, another scheme (Basic, ...), or a
// token with characters outside RFC 6750's b64token, so garbage is refused
// before it reaches a parser.
func BearerFromAuthorization(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if !isB64Token(token) {
		return "", false
	}
	return token, true
}

// isB64Token reports whether s is RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
