package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/auth"
)

// jwksServer is an identity provider's jwks_uri over HTTPS whose keys the
// test can rotate.
type jwksServer struct {
	srv     *httptest.Server
	doc     atomic.Pointer[[]byte]
	status  atomic.Int32
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(doc)
	s.status.Store(http.StatusOK)
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if code := int(s.status.Load()); code != http.StatusOK {
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(doc []byte) { s.doc.Store(&doc) }

func (s *jwksServer) config(mod func(*auth.Config)) auth.Config {
	c := auth.Config{
		JWKSURL:        s.srv.URL + "/.well-known/jwks.json",
		JWKSHTTPClient: s.srv.Client(),
		Issuer:         testIssuer,
		Audience:       testAudience,
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

func TestJWKSRotationPickedUpOnUnknownKID(t *testing.T) {
	t.Parallel()
	k := testKeys()
	s := newJWKSServer(t, jwksJSON(t, k["rs"]))
	const minRefresh = 200 * time.Millisecond
	// before precedes the first fetch and fetched follows it: a check that
	// ends within minRefresh of before surely ran within the rate limit, and
	// minRefresh after fetched is surely past it, however slowly the machine
	// runs the test.
	before := time.Now()
	a, err := auth.NewAuthenticator(context.Background(), s.config(func(c *auth.Config) { c.JWKSMinRefreshInterval = minRefresh }))
	if err != nil {
		t.Fatal(err)
	}
	fetched := time.Now()
	ctx := context.Background()
	authn := func(key signingKey) error {
		_, err := a.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, key, claims())})
		return err
	}
	if err := authn(k["rs"]); err != nil {
		t.Fatal(err)
	}

	// The provider rotates: the new key appears, the old one goes.
	s.set(jwksJSON(t, k["es"]))
	esToken := sign(t, k["es"], claims())
	_, err = a.Authenticate(ctx, auth.Credentials{BearerToken: esToken})
	if time.Since(before) < minRefresh {
		// Too soon after the last fetch: refused without fetching.
		if !errors.Is(err, auth.ErrUnknownKey) {
			t.Errorf("new kid within the rate limit: %v, want ErrUnknownKey", err)
		}
		if n := s.fetches.Load(); n != 1 {
			t.Errorf("%d fetches within the rate limit, want 1", n)
		}
	} else {
		t.Logf("the machine was too slow to check within the rate limit (%v since the first fetch)", time.Since(before))
	}
	// The rate limit is a matter of time: wait it out from the last fetch.
	time.Sleep(time.Until(fetched.Add(minRefresh + 20*time.Millisecond)))

	// Many requests with the new kid at once: one fetch serves them all.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- authn(k["es"]) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("new kid after rotation: %v", err)
		}
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (start, one for the new kid)", n)
	}
	// The withdrawn key is no longer accepted, and asking for it again
	// right away does not fetch.
	if err := authn(k["rs"]); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("withdrawn key: %v, want ErrUnknownKey", err)
	}
	// Unknown kids in a burst do not fetch more than once per interval: at
	// most one at once (the last fetch may be older than the interval) and
	// one per interval the burst lasts.
	made := sign(t, signingKey{kid: "made-up", method: k["es"].method, priv: k["es"].priv}, claims())
	fetchesBefore := s.fetches.Load()
	burst := time.Now()
	for range 50 {
		_, _ = a.Authenticate(ctx, auth.Credentials{BearerToken: made})
	}
	allowed := 1 + int32(time.Since(burst)/minRefresh)
	if n := s.fetches.Load() - fetchesBefore; n > allowed {
		t.Errorf("%d fetches during a burst of unknown kids lasting %v, want at most %d", n, time.Since(burst), allowed)
	}
}

func TestJWKSPeriodicRefresh(t *testing.T) {
	t.Parallel()
	k := testKeys()
	s := newJWKSServer(t, jwksJSON(t, k["rs"], k["ed"]))
	a, err := auth.NewAuthenticator(context.Background(), s.config(func(c *auth.Config) {
		c.JWKSRefreshInterval = 20 * time.Millisecond
		c.JWKSMinRefreshInterval = time.Hour // only Watch fetches
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	wg.Go(func() { a.Watch(ctx, func(err error) { errs <- err }) })
	defer func() { cancel(); wg.Wait() }()

	tok := sign(t, k["rs"], claims())
	if _, err := a.Authenticate(ctx, auth.Credentials{BearerToken: tok}); err != nil {
		t.Fatal(err)
	}
	// The provider withdraws the RSA key (say it leaked).
	s.set(jwksJSON(t, k["ed"]))
	waitFor(t, func() bool {
		_, err := a.Authenticate(ctx, auth.Credentials{BearerToken: tok})
		return errors.Is(err, auth.ErrUnknownKey)
	})

	// An outage keeps the last good keys and is reported.
	s.status.Store(http.StatusServiceUnavailable)
	select {
	case err := <-errs:
		if !errors.Is(err, auth.ErrJWKS) || !strings.Contains(err.Error(), "503") {
			t.Errorf("onError(%v), want ErrJWKS with the status", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("outage not reported")
	}
	if _, err := a.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, k["ed"], claims())}); err != nil {
		t.Errorf("during the outage: %v", err)
	}
	// A JWKS with no usable key is refused the same way.
	s.status.Store(http.StatusOK)
	s.set([]byte(`{"keys":[]}`))
	waitFor(t, func() bool {
		select {
		case err := <-errs:
			return errors.Is(err, auth.ErrJWKS) && strings.Contains(err.Error(), "no usable")
		default:
			return false
		}
	})
	if _, err := a.Authenticate(ctx, auth.Credentials{BearerToken: sign(t, k["ed"], claims())}); err != nil {
		t.Errorf("after an empty JWKS: %v", err)
	}
}

func TestJWKSUnavailableAtStart(t *testing.T) {
	t.Parallel()
	k := testKeys()
	s := newJWKSServer(t, jwksJSON(t, k["rs"]))
	s.status.Store(http.StatusInternalServerError)
	_, err := auth.NewAuthenticator(context.Background(), s.config(nil))
	if !errors.Is(err, auth.ErrJWKS) {
		t.Fatalf("error %v, want ErrJWKS", err)
	}
	// Without the test server's CA the fetch fails TLS verification.
	plain := newJWKSServer(t, jwksJSON(t, k["rs"]))
	_, err = auth.NewAuthenticator(context.Background(), plain.config(func(c *auth.Config) { c.JWKSHTTPClient = nil }))
	if !errors.Is(err, auth.ErrJWKS) {
		t.Fatalf("untrusted JWKS server: %v, want ErrJWKS", err)
	}
}
