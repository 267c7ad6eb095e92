package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
)

// maxJWKSBytes bounds a JWKS document; real ones are a few kilobytes.
const maxJWKSBytes = 1 << 20

// minRSABits refuses RSA keys too short to trust (RFC 7518 section 3.3).
const minRSABits = 2048

// verifyKey is one public key from the JWKS.
type verifyKey struct {
	kid string
	alg string // the JWK's "alg", "" when it does not pin one
	key crypto.PublicKey
}

// keySet is one parsed JWKS, never modified once built.
type keySet struct {
	byKID map[string][]verifyKey
	all   []verifyKey
}

// parseJWKS keeps the asymmetric signature-verification keys of a JWKS.
// Symmetric ("oct") keys are dropped whatever their "use": a JWKS is
// public, so a shared secret in it would let anyone forge tokens. Keys that
// jwkset cannot parse or validate are skipped rather than failing the whole
// set, as an identity provider may publish key types we do not use; a set
// with no usable key at all is an error.
func parseJWKS(data []byte) (*keySet, error) {
	var doc jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: not a JWKS document: %w", ErrJWKS, err)
	}
	ks := &keySet{byKID: make(map[string][]verifyKey)}
	for _, m := range doc.Keys {
		if m.KTY == jwkset.KtyOct || (m.USE != "" && m.USE != jwkset.UseSig) {
			continue
		}
		// Private: false makes jwkset ignore private members ("d", ...),
		// so only public keys come out even of a mistakenly private JWKS.
		j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		k := verifyKey{kid: m.KID, alg: string(m.ALG), key: j.Key()}
		if pub, ok := k.key.(*rsa.PublicKey); ok && pub.N.BitLen() < minRSABits {
			continue
		}
		ks.all = append(ks.all, k)
		if k.kid != "" {
			ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
		}
	}
	if len(ks.all) == 0 {
		return nil, fmt.Errorf("%w: no usable signature verification key (of %d)", ErrJWKS, len(doc.Keys))
	}
	return ks, nil
}

// keyFits reports whether key can verify alg, so a key of one family is
// never handed to another family's verifier.
func keyFits(alg string, key crypto.PublicKey) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		_, ok := key.(*rsa.PublicKey)
		return ok
	case "ES256":
		return onCurve(key, elliptic.P256())
	case "ES384":
		return onCurve(key, elliptic.P384())
	case "ES512":
		return onCurve(key, elliptic.P521())
	case "EdDSA":
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

func onCurve(key crypto.PublicKey, c elliptic.Curve) bool {
	pub, ok := key.(*ecdsa.PublicKey)
	return ok && pub.Curve == c
}

// keySource holds the current JWKS and refreshes it.
type keySource struct {
	fetch      func(ctx context.Context) ([]byte, error)
	minRefresh time.Duration
	keys       atomic.Pointer[keySet]

	mu        sync.Mutex // one fetch at a time
	lastFetch time.Time  // last attempt, successful or not
}

// refresh fetches and parses the JWKS; on error the current keys stay.
func (s *keySource) refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *keySource) refreshLocked(ctx context.Context) error {
	s.lastFetch = time.Now()
	data, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	ks, err := parseJWKS(data)
	if err != nil {
		return err
	}
	s.keys.Store(ks)
	return nil
}

// lookup returns the keys with id kid. An unknown kid usually means the
// identity provider rotated keys since the last fetch, so lookup refetches,
// but at most once per minRefresh: otherwise a stream of tokens with
// made-up key ids would turn every request into a fetch. While a fetch is
// under way, other lookups of unknown ids wait for it and then use its
// result; when the rate limit says no, they fail at once rather than queue.
func (s *keySource) lookup(ctx context.Context, kid string) ([]verifyKey, error) {
	if ks := s.keys.Load().byKID[kid]; len(ks) > 0 {
		return ks, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ks := s.keys.Load().byKID[kid]; len(ks) > 0 {
		return ks, nil // fetched while we waited
	}
	if time.Since(s.lastFetch) < s.minRefresh {
		return nil, ErrUnknownKey
	}
	// The fetch serves every request waiting on the lock, so the caller
	// hanging up must not abort it (and use up the rate limit for nothing).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), JWKSFetchTimeoutDefault)
	defer cancel()
	if err := s.refreshLocked(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownKey, err)
	}
	if ks := s.keys.Load().byKID[kid]; len(ks) > 0 {
		return ks, nil
	}
	return nil, ErrUnknownKey
}

// fileFetcher reads a JWKS from a file (a mounted Secret or ConfigMap).
func fileFetcher(path string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
		}
		return b, nil
	}
}

// httpsFetcher GETs a JWKS. The URL is printed without query or user
// info, which is where a credential would be.
func httpsFetcher(client *http.Client, u *url.URL) func(context.Context) ([]byte, error) {
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	raw := u.String()
	return func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: GET %s: %w", ErrJWKS, shown, err)
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			// *url.Error repeats the full URL; report only its cause.
			if ue := (*url.Error)(nil); errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("%w: GET %s: %w", ErrJWKS, shown, err)
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%w: GET %s: status %d", ErrJWKS, shown, resp.StatusCode)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
		if err != nil {
			return nil, fmt.Errorf("%w: GET %s: %w", ErrJWKS, shown, err)
		}
		if len(b) > maxJWKSBytes {
			return nil, fmt.Errorf("%w: GET %s: larger than %d bytes", ErrJWKS, shown, maxJWKSBytes)
		}
		return bytes.TrimSpace(b), nil
	}
}

// defaultJWKSClient refuses redirects away from HTTPS, which would let a
// network attacker substitute the keys.
func defaultJWKSClient() *http.Client {
	return &http.Client{
		Timeout: JWKSFetchTimeoutDefault,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return errors.New("redirect to a non-HTTPS URL refused")
			}
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}
