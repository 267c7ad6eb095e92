package auth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/auth"
)

// tlsBundle is a CA, a server certificate on disk, and a TLSReloader
// serving it, with a second CA ("other") also trusted for client
// certificates and a third ("unknown") that is not.
type tlsBundle struct {
	dir                       string
	ca, other, unknown        *testCA
	certFile, keyFile, caFile string
	reloader                  *auth.TLSReloader
	authn                     *auth.Authenticator
	serverName                string
	serverCertSerial          string
	clientRoots               *x509.CertPool
}

func setupTLS(t *testing.T) *tlsBundle {
	t.Helper()
	b := &tlsBundle{
		dir:        t.TempDir(),
		ca:         newCA(t, "replicad test CA"),
		other:      newCA(t, "second trusted CA"),
		unknown:    newCA(t, "unknown CA"),
		serverName: "replicad.test",
	}
	b.certFile = filepath.Join(b.dir, "tls.crt")
	b.keyFile = filepath.Join(b.dir, "tls.key")
	b.caFile = filepath.Join(b.dir, "client-ca.pem")
	srv := b.ca.issue(t, leafSpec{cn: "replicad", dns: []string{b.serverName}, server: true})
	writeAtomic(t, b.certFile, srv.certPEM)
	writeAtomic(t, b.keyFile, srv.keyPEM)
	writeAtomic(t, b.caFile, concat(b.ca.pem, b.other.pem))
	b.serverCertSerial = srv.serial.String()

	r, err := auth.NewTLSReloader(auth.TLSOptions{
		CertFile: b.certFile, KeyFile: b.keyFile, ClientCAFile: b.caFile,
		PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.reloader = r
	b.authn, err = auth.NewAuthenticator(context.Background(), auth.Config{ClientCAs: r.ClientCAs})
	if err != nil {
		t.Fatal(err)
	}
	b.clientRoots = x509.NewCertPool()
	b.clientRoots.AddCert(b.ca.cert)
	return b
}

// clientConfig makes a client that sends its certificate (if given) even
// when the server's list of acceptable CAs does not name its issuer, as an
// attacker would; Go's client would otherwise keep it to itself.
func (b *tlsBundle) clientConfig(certs ...tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: b.clientRoots, ServerName: b.serverName}
	if len(certs) > 0 {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &certs[0], nil
		}
	}
	return c
}

func TestMTLSIdentity(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	tests := []struct {
		name          string
		ca            *testCA // nil: no client certificate
		spec          leafSpec
		wantPrincipal string
		wantHandshake bool
		wantErr       error
	}{
		{name: "URI SAN wins over DNS SAN and CN", ca: b.ca, spec: leafSpec{cn: "cn-name", dns: []string{"api.payments.corp"}, uris: []string{"spiffe://corp/ns/payments/sa/api"}},
			wantPrincipal: "spiffe://corp/ns/payments/sa/api", wantHandshake: true},
		{name: "DNS SAN wins over CN", ca: b.ca, spec: leafSpec{cn: "cn-name", dns: []string{"api.payments.corp", "second.corp"}},
			wantPrincipal: "api.payments.corp", wantHandshake: true},
		{name: "CN as last resort", ca: b.ca, spec: leafSpec{cn: "legacy-batch"}, wantPrincipal: "legacy-batch", wantHandshake: true},
		{name: "second trusted CA", ca: b.other, spec: leafSpec{uris: []string{"spiffe://corp/ns/ops/sa/cli"}},
			wantPrincipal: "spiffe://corp/ns/ops/sa/cli", wantHandshake: true},
		{name: "no identity in certificate", ca: b.ca, spec: leafSpec{}, wantHandshake: true, wantErr: auth.ErrCertificateNoIdentity},
		{name: "no certificate", wantHandshake: true, wantErr: auth.ErrNoCredentials},
		{name: "unknown CA refused at handshake", ca: b.unknown, spec: leafSpec{uris: []string{"spiffe://corp/ns/payments/sa/api"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var certs []tls.Certificate
			if tt.ca != nil {
				certs = append(certs, tt.ca.issue(t, tt.spec).tls)
			}
			res := handshake(t, b.reloader.ServerTLSConfig(), b.clientConfig(certs...))
			if !tt.wantHandshake {
				if res.serverErr == nil {
					t.Fatal("handshake succeeded, want the server to refuse the client certificate")
				}
				var unknownAuthority x509.UnknownAuthorityError
				if !errors.As(res.serverErr, &unknownAuthority) {
					t.Errorf("server error = %v, want x509.UnknownAuthorityError", res.serverErr)
				}
				return
			}
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("handshake: server %v, client %v", res.serverErr, res.clientErr)
			}
			if res.server.Version != tls.VersionTLS13 {
				t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(res.server.Version))
			}
			id, err := b.authn.Authenticate(context.Background(), auth.Credentials{PeerCertificates: res.server.PeerCertificates})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Authenticate error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Principal != tt.wantPrincipal || id.Method != auth.MethodMTLS || len(id.Groups) != 0 {
				t.Errorf("identity = %+v, want principal %q via mtls without groups", id, tt.wantPrincipal)
			}
		})
	}
}

func TestTLSVersionsAndALPN(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)

	old := b.clientConfig()
	old.MaxVersion = tls.VersionTLS11
	if res := handshake(t, b.reloader.ServerTLSConfig(), old); res.serverErr == nil {
		t.Error("TLS 1.1 client accepted")
	}

	tls12 := b.clientConfig()
	tls12.MaxVersion = tls.VersionTLS12
	if res := handshake(t, b.reloader.ServerTLSConfig(), tls12); res.serverErr != nil || res.server.Version != tls.VersionTLS12 {
		t.Errorf("TLS 1.2 client: %v, version %x", res.serverErr, res.server.Version)
	}

	for _, proto := range []string{"h2", "http/1.1"} {
		c := b.clientConfig()
		c.NextProtos = []string{proto}
		res := handshake(t, b.reloader.ServerTLSConfig(), c)
		if res.serverErr != nil || res.server.NegotiatedProtocol != proto {
			t.Errorf("ALPN %s: err %v, negotiated %q", proto, res.serverErr, res.server.NegotiatedProtocol)
		}
	}
	c := b.clientConfig()
	c.NextProtos = []string{"h2"}
	if res := handshake(t, b.reloader.ServerTLSConfig("h2"), c); res.server.NegotiatedProtocol != "h2" {
		t.Errorf("explicit h2 listener negotiated %q", res.server.NegotiatedProtocol)
	}
}

func TestTLSReloadServerCertificate(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	serverCfg := b.reloader.ServerTLSConfig()
	served := func() string {
		t.Helper()
		res := handshake(t, serverCfg, b.clientConfig())
		if res.clientErr != nil {
			t.Fatalf("handshake: %v", res.clientErr)
		}
		return res.client.PeerCertificates[0].SerialNumber.String()
	}
	if got := served(); got != b.serverCertSerial {
		t.Fatalf("serving serial %s, want %s", got, b.serverCertSerial)
	}

	// Explicit Reload (SIGHUP) after a rename-replace of both files.
	next := b.ca.issue(t, leafSpec{dns: []string{b.serverName}, server: true})
	writeAtomic(t, b.certFile, next.certPEM)
	writeAtomic(t, b.keyFile, next.keyPEM)
	if err := b.reloader.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != next.serial.String() {
		t.Fatalf("after Reload serving serial %s, want %s", got, next.serial)
	}

	// Watch picks up in-place rewrites by itself. A poll may land between
	// the two writes and see a certificate with the old key: that is
	// reported, and the old pair stays until the new pair is complete.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.reloader.Watch(ctx, func(err error) { t.Logf("Watch: %v", err) }) })
	defer func() { cancel(); wg.Wait() }()
	third := b.ca.issue(t, leafSpec{dns: []string{b.serverName}, server: true})
	writeBoth(t, b.certFile, third.certPEM, b.keyFile, third.keyPEM)
	waitFor(t, func() bool { return served() == third.serial.String() })
}

// writeBoth writes two files in place, as close together as possible.
func writeBoth(t *testing.T, p1 string, d1 []byte, p2 string, d2 []byte) {
	t.Helper()
	if err := os.WriteFile(p1, d1, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p2, d2, 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSReloadDropsCA(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	serverCfg := b.reloader.ServerTLSConfig()
	client := b.other.issue(t, leafSpec{uris: []string{"spiffe://corp/ns/ops/sa/cli"}})

	res := handshake(t, serverCfg, b.clientConfig(client.tls))
	if res.serverErr != nil {
		t.Fatalf("before removal: %v", res.serverErr)
	}
	chain := res.server.PeerCertificates // a long-lived connection's chain
	if _, err := b.authn.Authenticate(context.Background(), auth.Credentials{PeerCertificates: chain}); err != nil {
		t.Fatalf("before removal: %v", err)
	}

	// The second CA is compromised: drop it from the bundle and reload.
	writeAtomic(t, b.caFile, b.ca.pem)
	if err := b.reloader.Reload(); err != nil {
		t.Fatal(err)
	}
	if res := handshake(t, serverCfg, b.clientConfig(client.tls)); res.serverErr == nil {
		t.Error("handshake with a certificate from the removed CA succeeded")
	}
	// The connection opened before the removal is cut off too.
	_, err := b.authn.Authenticate(context.Background(), auth.Credentials{PeerCertificates: chain})
	if !errors.Is(err, auth.ErrCertificateUntrusted) || !errors.Is(err, auth.ErrInvalidCertificate) {
		t.Errorf("Authenticate with the removed CA's chain = %v, want ErrCertificateUntrusted", err)
	}
	// The remaining CA still works.
	good := b.ca.issue(t, leafSpec{uris: []string{"spiffe://corp/ns/payments/sa/api"}})
	if res := handshake(t, serverCfg, b.clientConfig(good.tls)); res.serverErr != nil {
		t.Errorf("remaining CA refused: %v", res.serverErr)
	}
}

func TestTLSReloadRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	serverCfg := b.reloader.ServerTLSConfig()
	other := b.ca.issue(t, leafSpec{dns: []string{b.serverName}, server: true})

	broken := []struct {
		name string
		file string
		data []byte
	}{
		{"key of another certificate", b.keyFile, other.keyPEM},
		{"garbage key", b.keyFile, []byte("not a key")},
		{"empty CA bundle", b.caFile, nil},
		{"truncated CA bundle", b.caFile, b.ca.pem[:len(b.ca.pem)/2]},
		{"CA bundle with a key in it", b.caFile, concat(b.ca.pem, other.keyPEM)},
	}
	for _, tt := range broken {
		original, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		writeAtomic(t, tt.file, tt.data)
		err = b.reloader.Reload()
		if !errors.Is(err, auth.ErrTLSFiles) {
			t.Errorf("%s: Reload = %v, want ErrTLSFiles", tt.name, err)
		}
		// The previous certificate and bundle are still served.
		client := b.ca.issue(t, leafSpec{cn: "c"})
		res := handshake(t, serverCfg, b.clientConfig(client.tls))
		if res.serverErr != nil || res.client.PeerCertificates[0].SerialNumber.String() != b.serverCertSerial {
			t.Errorf("%s: old state not kept: %v", tt.name, res.serverErr)
		}
		writeAtomic(t, tt.file, original)
		if err := b.reloader.Reload(); err != nil {
			t.Fatalf("%s: restoring: %v", tt.name, err)
		}
	}
}

func TestTLSWatchReportsEachErrorOnce(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	errs := make(chan error, 100)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.reloader.Watch(ctx, func(err error) { errs <- err }) })
	writeAtomic(t, b.keyFile, []byte("garbage"))
	select {
	case err := <-errs:
		if !errors.Is(err, auth.ErrTLSFiles) {
			t.Errorf("onError(%v), want ErrTLSFiles", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not report the broken key")
	}
	time.Sleep(100 * time.Millisecond) // ten more polls
	cancel()
	wg.Wait()
	if n := len(errs); n != 0 {
		t.Errorf("the same broken file was reported %d more times", n)
	}
}

func TestNewTLSReloaderErrors(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	tests := []struct {
		name string
		opts auth.TLSOptions
		want error
	}{
		{"no files", auth.TLSOptions{}, auth.ErrConfig},
		{"TLS 1.1", auth.TLSOptions{CertFile: b.certFile, KeyFile: b.keyFile, MinVersion: tls.VersionTLS11}, auth.ErrConfig},
		{"missing key", auth.TLSOptions{CertFile: b.certFile, KeyFile: filepath.Join(b.dir, "nope")}, auth.ErrTLSFiles},
		{"missing CA bundle", auth.TLSOptions{CertFile: b.certFile, KeyFile: b.keyFile, ClientCAFile: filepath.Join(b.dir, "nope")}, auth.ErrTLSFiles},
	}
	for _, tt := range tests {
		if _, err := auth.NewTLSReloader(tt.opts); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	// Without a CA bundle no client certificate is asked for.
	r, err := auth.NewTLSReloader(auth.TLSOptions{CertFile: b.certFile, KeyFile: b.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if r.ClientCAs() != nil {
		t.Error("ClientCAs() != nil without a bundle")
	}
	client := b.ca.issue(t, leafSpec{cn: "c"})
	res := handshake(t, r.ServerTLSConfig(), b.clientConfig(client.tls))
	if res.serverErr != nil || len(res.server.PeerCertificates) != 0 {
		t.Errorf("without a bundle: err %v, %d peer certificates", res.serverErr, len(res.server.PeerCertificates))
	}
}
