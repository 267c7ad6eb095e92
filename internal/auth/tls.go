package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TLSPollIntervalDefault is TLSOptions.PollInterval's default.
const TLSPollIntervalDefault = 5 * time.Second

// TLSOptions configures a TLSReloader. The zero value of each optional field
// means its default.
type TLSOptions struct {
	// CertFile is the server certificate chain, PEM, leaf first. Required.
	CertFile string
	// KeyFile is the server certificate's private key, PEM. Required.
	KeyFile string
	// ClientCAFile is a PEM bundle of the CAs whose client certificates are
	// accepted (tls.VerifyClientCertIfGiven). Default "": client
	// certificates are not requested, and only bearer tokens authenticate.
	ClientCAFile string
	// MinVersion is the lowest TLS version accepted. Default
	// tls.VersionTLS12; TLS 1.3 is negotiated whenever the client has it.
	// Values below TLS 1.2 are refused.
	MinVersion uint16
	// PollInterval is how often Watch re-reads the three files. Default
	// TLSPollIntervalDefault.
	PollInterval time.Duration
}

// TLSReloader holds the server certificate and the client CA bundle, and
// swaps them atomically when their files change, so certificates can be
// rotated (cert-manager, Vault, a CA removed after a compromise) without a
// restart. Handshakes already under way keep the state they started with.
type TLSReloader struct {
	opts  TLSOptions
	state atomic.Pointer[tlsState]

	mu      sync.Mutex // serialises reloads
	seen    [sha256.Size]byte
	lastErr string // last error Watch reported, to report each once
}

// tlsState is one consistent generation of certificate and CA bundle.
type tlsState struct {
	cert      *tls.Certificate
	clientCAs *x509.CertPool // nil without ClientCAFile
	// config is what handshakes use; ServerTLSConfig copies it once per
	// generation to add the listener's ALPN protocols.
	config *tls.Config
}

// NewTLSReloader loads the files once; it fails if they are missing or
// invalid, so a misconfigured server does not start. Call Watch to follow
// later changes, and Reload for an immediate one (SIGHUP).
func NewTLSReloader(opts TLSOptions) (*TLSReloader, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, fmt.Errorf("%w: CertFile and KeyFile are required", ErrConfig)
	}
	if opts.MinVersion == 0 {
		opts.MinVersion = tls.VersionTLS12
	}
	if opts.MinVersion < tls.VersionTLS12 {
		return nil, fmt.Errorf("%w: MinVersion below TLS 1.2", ErrConfig)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = TLSPollIntervalDefault
	}
	r := &TLSReloader{opts: opts}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// ServerTLSConfig returns the *tls.Config for a listener (the gRPC one, and
// the REST gateway's). Every handshake uses the current certificate and CA
// bundle. nextProtos are the ALPN protocols to offer; default
// {"h2", "http/1.1"}. They are needed here because the configuration a
// handshake really uses is the one GetConfigForClient returns, not the one
// http.Server or grpc's credentials add their protocols to (grpc's
// credentials.NewTLS adds "h2" to both, http.Server only to its own copy).
func (r *TLSReloader) ServerTLSConfig(nextProtos ...string) *tls.Config {
	if len(nextProtos) == 0 {
		nextProtos = []string{"h2", "http/1.1"}
	}
	protos := slices.Clone(nextProtos)
	type generation struct {
		state  *tlsState
		config *tls.Config
	}
	// The per-listener copy is made once per generation, not per handshake.
	var current atomic.Pointer[generation]
	return &tls.Config{
		MinVersion: r.opts.MinVersion,
		NextProtos: protos,
		// GetCertificate is never reached while GetConfigForClient answers;
		// it is here so code that inspects the config (http.Server checks
		// that one of these is set) sees a certificate source.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.state.Load().cert, nil
		},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := r.state.Load()
			if g := current.Load(); g != nil && g.state == st {
				return g.config, nil
			}
			c := st.config.Clone()
			c.NextProtos = protos
			current.Store(&generation{state: st, config: c})
			return c, nil
		},
	}
}

// ClientCAs returns the current client CA bundle, nil without
// ClientCAFile. Pass it as Config.ClientCAs so Authenticate re-verifies
// chains of connections opened before a CA was removed.
func (r *TLSReloader) ClientCAs() *x509.CertPool {
	return r.state.Load().clientCAs
}

// Reload re-reads the files now. On error the previous certificate and
// bundle stay in use, and the error says which file is wrong.
func (r *TLSReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fs, err := readFileSet(r.opts.CertFile, r.opts.KeyFile, r.opts.ClientCAFile)
	if err != nil {
		return err
	}
	return r.applyLocked(fs)
}

// Watch re-reads the files every PollInterval until ctx is done, and
// reloads when their contents change. Each distinct failure is reported to
// onError once (onError may be nil); the previous state stays in use.
func (r *TLSReloader) Watch(ctx context.Context, onError func(error)) {
	for sleepCtx(ctx, r.opts.PollInterval) {
		err := r.reloadIfChanged(ctx)
		r.mu.Lock()
		report := err != nil && err.Error() != r.lastErr
		r.lastErr = ""
		if err != nil {
			r.lastErr = err.Error()
		}
		r.mu.Unlock()
		if report && onError != nil {
			onError(err)
		}
	}
}

func (r *TLSReloader) reloadIfChanged(ctx context.Context) error {
	paths := []string{r.opts.CertFile, r.opts.KeyFile, r.opts.ClientCAFile}
	fs, err := readFileSet(paths...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	unchanged := fs.sum == r.seen
	r.mu.Unlock()
	if unchanged {
		return nil
	}
	if !sleepCtx(ctx, settleDelay(r.opts.PollInterval)) {
		return nil
	}
	again, err := readFileSet(paths...)
	if err != nil {
		return err
	}
	if again.sum != fs.sum {
		return nil // still being written: look again next time
	}
	// Read once more under the lock, as Reload does, so that of two
	// concurrent reloads the later never applies older contents.
	r.mu.Lock()
	defer r.mu.Unlock()
	now, err := readFileSet(paths...)
	if err != nil {
		return err
	}
	if now.sum != again.sum || now.sum == r.seen {
		return nil // changed again, or a concurrent Reload got there first
	}
	return r.applyLocked(now)
}

// applyLocked parses fs and, if valid, makes it current. The contents count
// as seen either way, so a broken file is reported once, not every poll.
func (r *TLSReloader) applyLocked(fs fileSet) error {
	r.seen = fs.sum
	cert, err := tls.X509KeyPair(fs.data[0], fs.data[1])
	if err != nil {
		// X509KeyPair's messages name the problem, never key bytes.
		return fmt.Errorf("%w: %s, %s: %w", ErrTLSFiles, r.opts.CertFile, r.opts.KeyFile, err)
	}
	st := &tlsState{cert: &cert}
	cfg := &tls.Config{
		MinVersion:   r.opts.MinVersion,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.NoClientCert,
	}
	if r.opts.ClientCAFile != "" {
		pool, err := parseCABundle(fs.data[2])
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrTLSFiles, r.opts.ClientCAFile, err)
		}
		st.clientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = pool
	}
	st.config = cfg
	r.state.Store(st)
	return nil
}

// parseCABundle is stricter than CertPool.AppendCertsFromPEM, which skips
// what it cannot parse: a truncated or mangled bundle must be refused, not
// silently shrink the set of trusted CAs (or empty it).
func parseCABundle(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q in CA bundle", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA certificate %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no certificates in CA bundle")
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return nil, fmt.Errorf("trailing data after certificate %d in CA bundle", n)
	}
	return pool, nil
}
