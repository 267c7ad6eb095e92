// Package auth answers "who is calling": it turns the credentials a request
// arrived with into an Identity, independently of the transport.
//
// The server has one gRPC server; REST arrives through a grpc-gateway that
// dials it over an in-process connection and forwards the HTTP client's
// verified certificate chain and Authorization header. So Authenticate takes
// plain inputs (a certificate chain and a bearer token), never a gRPC
// context, and both transports go through the same code.
//
// # Which credential wins
//
// If a bearer token is present it must verify: a bad token is an error even
// when a good client certificate is also present. Falling back to the
// certificate would hide broken clients and let a caller who holds both
// choose the identity it is authorised as. Without a token, the client
// certificate decides. Without either, Authenticate returns ErrNoCredentials.
//
// # Mutual TLS
//
// The certificate chain is verified by crypto/tls during the handshake
// (ClientAuth tls.VerifyClientCertIfGiven against the configured CA bundle);
// see TLSReloader, which builds the *tls.Config for both listeners and
// reloads the server certificate, its key and the client CA bundle when their
// files change. The principal is taken from the leaf certificate:
//
//  1. its first URI SAN (a SPIFFE id such as spiffe://corp/ns/payments/sa/api),
//  2. else its first DNS SAN,
//  3. else its Subject Common Name.
//
// A leaf with none of these is refused (ErrCertificateNoIdentity). mTLS
// identities carry no groups. When Config.ClientCAs is set, Authenticate also
// re-verifies the chain against the current bundle on every request, so a CA
// dropped from the bundle stops long-lived HTTP/2 connections too, not only
// new handshakes.
//
// # JWT bearer tokens
//
// Tokens are verified with github.com/golang-jwt/jwt/v5 against a JWKS read
// from a file or fetched over HTTPS (keys parsed by
// github.com/MicahParks/jwkset). The JWKS is refreshed every
// Config.JWKSRefreshInterval (by Authenticator.Watch) and, rate-limited, when a
// token names an unknown key id. Issuer, audience, exp (required), nbf and iat
// are checked with Config.Leeway. Only asymmetric algorithms are accepted:
// "none" and HS* are refused whatever the configuration, because we hold
// only public keys and accepting HS* would let anyone who knows the public
// key forge tokens (the RS/HS confusion attack).
//
// # Errors
//
// Every failure wraps one of the sentinel errors (ErrNoCredentials,
// ErrInvalidToken, ErrInvalidCertificate and the more specific ones they are
// paired with), for errors.Is. Error messages never contain the token, any
// part of it, or key material; this package never logs.
package auth
