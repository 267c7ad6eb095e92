// Package authtest makes real credentials for tests: a certificate
// authority with server and client certificates written to files, and an
// issuer of RS256-signed JWTs with its JWKS file. Nothing here is used
// outside tests.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// PKI is a test certificate authority with a server certificate.
type PKI struct {
	Dir            string
	CAFile         string // the CA certificate (PEM)
	ServerCertFile string
	ServerKeyFile  string
	ca             *x509.Certificate
	caKey          crypto.Signer
	pool           *x509.CertPool
}

// NewPKI creates a CA and a server certificate for 127.0.0.1 and localhost.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir()}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "replicad test CA " + t.Name()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.CAFile = p.write(t, "ca.pem", pemBlock("CERTIFICATE", der))
	cert, certKey := p.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "replicad"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ServerCertFile = p.write(t, "server.pem", pemBlock("CERTIFICATE", cert))
	p.ServerKeyFile = p.write(t, "server-key.pem", keyPEM(t, certKey))
	return p
}

// ClientCert returns a client certificate whose URI SAN is uri (a SPIFFE
// id, say).
func (p *PKI) ClientCert(t testing.TB, uri string) tls.Certificate {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	der, key := p.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "client"},
		URIs:        []*url.URL{u},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	cert, err := tls.X509KeyPair(pemBlock("CERTIFICATE", der), keyPEM(t, key))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// ClientCertFiles writes a client certificate for uri and its key as PEM
// files, for clients configured by path (replictl --cert-file).
func (p *PKI) ClientCertFiles(t testing.TB, uri string) (certFile, keyFile string) {
	t.Helper()
	cert := p.ClientCert(t, uri)
	name := fmt.Sprintf("client-%d", serial())
	certFile = p.write(t, name+".pem", pemBlock("CERTIFICATE", cert.Certificate[0]))
	keyFile = p.write(t, name+"-key.pem", keyPEM(t, cert.PrivateKey.(crypto.Signer)))
	return certFile, keyFile
}

// ClientTLS is a client TLS configuration trusting the CA, presenting a
// certificate for uri when uri is not empty.
func (p *PKI) ClientTLS(t testing.TB, uri string) *tls.Config {
	t.Helper()
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if uri != "" {
		c.Certificates = []tls.Certificate{p.ClientCert(t, uri)}
	}
	return c
}

// RootCAs trusts the CA.
func (p *PKI) RootCAs() *x509.CertPool { return p.pool }

func (p *PKI) issue(t testing.TB, tmpl *x509.Certificate) ([]byte, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func (p *PKI) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.Dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issuer signs JWTs with an RSA key published in its JWKS file.
type Issuer struct {
	Issuer, Audience string
	JWKSFile         string
	key              *rsa.PrivateKey
	kid              string
}

// NewIssuer creates an issuer and writes its JWKS file into dir.
func NewIssuer(t testing.TB, dir, issuer, audience string) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &Issuer{Issuer: issuer, Audience: audience, key: key, kid: "test-key-1"}
	jwks := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": i.kid, "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}}
	b, _ := json.Marshal(jwks)
	i.JWKSFile = filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(i.JWKSFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return i
}

// Token signs a token for sub with groups, valid for an hour; edit
// adjusts the claims (expiry, audience...) before signing.
func (i *Issuer) Token(t testing.TB, sub string, groups []string, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": i.Issuer, "aud": i.Audience, "sub": sub, "groups": groups,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = i.kid
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TokenWithKID is a valid token for sub signed by the issuer's key but
// naming another key id, as after a key rotation the server has not seen.
func (i *Issuer) TokenWithKID(t testing.TB, sub, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": i.Issuer, "aud": i.Audience, "sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ForeignToken is signed by a key the JWKS does not hold, under the same kid.
func (i *Issuer) ForeignToken(t testing.TB, sub string) string {
	t.Helper()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": i.Issuer, "aud": i.Audience, "sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = i.kid
	s, err := tok.SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// NoneToken is an unsigned token (alg "none").
func (i *Issuer) NoneToken(t testing.TB, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"iss": i.Issuer, "aud": i.Audience, "sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
	})
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
