package auth

import "errors"

// Authentication outcomes. A token failure wraps ErrInvalidToken and one of
// the ErrToken* / ErrUnknownKey / ErrAlgorithmNotAllowed / ErrJWTDisabled
// errors; a certificate failure wraps ErrInvalidCertificate and, where it
// applies, a more specific one. The messages are fixed strings: nothing the
// caller sent is echoed back, so a token cannot leak into logs through an
// error.
var (
	// ErrNoCredentials: neither a bearer token nor a client certificate.
	ErrNoCredentials = errors.New("no credentials")

	// ErrInvalidToken is wrapped by every bearer-token failure.
	ErrInvalidToken = errors.New("invalid bearer token")
	// ErrJWTDisabled: a token was sent but no JWKS is configured.
	ErrJWTDisabled = errors.New("bearer tokens are not accepted")
	// ErrTokenMalformed: not a well-formed JWS compact token.
	ErrTokenMalformed = errors.New("token malformed")
	// ErrAlgorithmNotAllowed: "none", HS* or an algorithm not configured.
	ErrAlgorithmNotAllowed = errors.New("token algorithm not allowed")
	// ErrUnknownKey: the token's key id is not in the JWKS, even after a
	// refresh (or a refresh was not allowed yet).
	ErrUnknownKey = errors.New("token signed by an unknown key")
	// ErrTokenSignature: the signature does not verify with the named key.
	ErrTokenSignature = errors.New("token signature invalid")
	// ErrTokenExpired: exp is in the past (beyond the leeway).
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenNotYetValid: nbf or iat is in the future (beyond the leeway).
	ErrTokenNotYetValid = errors.New("token not yet valid")
	// ErrTokenIssuer: iss is not the configured issuer.
	ErrTokenIssuer = errors.New("token issuer not accepted")
	// ErrTokenAudience: aud does not contain the configured audience.
	ErrTokenAudience = errors.New("token audience not accepted")
	// ErrTokenClaims: a required claim is missing or has the wrong type
	// (exp, the principal claim, the groups claim).
	ErrTokenClaims = errors.New("token claims invalid")

	// ErrInvalidCertificate is wrapped by every client-certificate failure.
	ErrInvalidCertificate = errors.New("invalid client certificate")
	// ErrCertificateNoIdentity: the leaf has no URI SAN, DNS SAN or CN.
	ErrCertificateNoIdentity = errors.New("certificate names no identity")
	// ErrCertificateUntrusted: the chain no longer verifies against the
	// current client CA bundle (the CA was removed, or the certificate
	// expired during a long-lived connection).
	ErrCertificateUntrusted = errors.New("certificate not trusted by the current CA bundle")

	// ErrConfig is wrapped by every configuration error from NewAuthenticator
	// and NewTLSReloader.
	ErrConfig = errors.New("invalid auth configuration")
	// ErrJWKS is wrapped when the JWKS cannot be read, fetched or parsed.
	ErrJWKS = errors.New("cannot load JWKS")
	// ErrTLSFiles is wrapped when the certificate, key or CA bundle files
	// cannot be read or parsed.
	ErrTLSFiles = errors.New("cannot load TLS files")
)
