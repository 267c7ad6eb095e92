package replictl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// DefaultServer is where replictl looks for replicad when neither --server
// nor REPLICTL_SERVER says otherwise: replicad's own default gRPC address.
const DefaultServer = "127.0.0.1:9090"

// connFlags are the connection settings every command takes.
type connFlags struct {
	server     string
	tls        bool
	caFile     string
	certFile   string
	keyFile    string
	serverName string
	token      string
	envToken   string
	tokenFile  string
	timeout    time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	server := getenv("REPLICTL_SERVER")
	if server == "" {
		server = DefaultServer
	}
	fs.StringVar(&c.server, "server", server, "replicad gRPC address `host:port` (env REPLICTL_SERVER)")
	fs.BoolVar(&c.tls, "tls", getenv("REPLICTL_TLS") == "true", "use TLS with the system's roots (implied by --ca-file and --cert-file; env REPLICTL_TLS=true)")
	fs.StringVar(&c.caFile, "ca-file", getenv("REPLICTL_CA_FILE"), "PEM bundle of the CAs that sign the server's certificate (env REPLICTL_CA_FILE)")
	fs.StringVar(&c.certFile, "cert-file", getenv("REPLICTL_CERT_FILE"), "client certificate (PEM) for mutual TLS (env REPLICTL_CERT_FILE)")
	fs.StringVar(&c.keyFile, "key-file", getenv("REPLICTL_KEY_FILE"), "client certificate's private key (PEM) (env REPLICTL_KEY_FILE)")
	fs.StringVar(&c.serverName, "server-name", getenv("REPLICTL_SERVER_NAME"), "name to verify in the server's certificate, if not the --server host")
	// Not a default: flag defaults are printed by --help and usage errors.
	c.envToken = getenv("REPLICTL_TOKEN")
	fs.StringVar(&c.token, "token", "", "bearer token (JWT) sent with every call (env REPLICTL_TOKEN; prefer --token-file: flags show up in ps)")
	fs.StringVar(&c.tokenFile, "token-file", getenv("REPLICTL_TOKEN_FILE"), "file holding the bearer token, re-read at each start (env REPLICTL_TOKEN_FILE)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "deadline of each call to the server")
}

func (c *connFlags) useTLS() bool {
	return c.tls || c.caFile != "" || c.certFile != "" || c.keyFile != ""
}

// dial opens a client connection. grpc.NewClient connects lazily, so an
// unreachable server shows up as Unavailable on the first call.
func (c *connFlags) dial() (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithUserAgent("replictl")}
	if c.useTLS() {
		conf, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	token, err := c.bearer()
	if err != nil {
		return nil, err
	}
	if token != "" {
		if !c.useTLS() && !loopback(c.server) {
			return nil, usageErrorf("refusing to send a bearer token in clear text to %s: use --tls or --ca-file", c.server)
		}
		opts = append(opts, grpc.WithChainUnaryInterceptor(bearerInterceptor(token)))
	}
	conn, err := grpc.NewClient(c.server, opts...)
	if err != nil {
		return nil, usageErrorf("--server %q: %v", c.server, err)
	}
	return conn, nil
}

func (c *connFlags) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.serverName}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, usageErrorf("--ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca-file %s: no PEM certificates in it", c.caFile)
		}
		conf.RootCAs = pool
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, usageErrorf("--cert-file and --key-file go together")
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, usageErrorf("client certificate: %v", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

func (c *connFlags) bearer() (string, error) {
	if c.token != "" && c.tokenFile != "" {
		return "", usageErrorf("give --token or --token-file, not both")
	}
	if c.tokenFile == "" {
		if c.token == "" {
			return strings.TrimSpace(c.envToken), nil
		}
		return strings.TrimSpace(c.token), nil
	}
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		// The path is fine to show; the file's content never is.
		return "", usageErrorf("--token-file: %v", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func bearerInterceptor(token string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// loopback reports whether addr names this machine, where clear text does
// not leave the host.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(strings.TrimPrefix(addr, "dns:///"))
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// callContext bounds one call by --timeout.
func (c *connFlags) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}
