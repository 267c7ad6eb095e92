// Package server is replicad's API edge: the gRPC ReplicationService, its
// interceptors, the one place errors become gRPC statuses, health and
// reflection, and the HTTP listener serving REST (grpc-gateway, dialing the
// gRPC server through an in-process client connection so every interceptor
// applies to REST too), /healthz, /readyz and the OpenAPI document.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"sigs.k8s.io/yaml"

	"github.com/replicad/replicad/gen/openapiv2"
	"github.com/replicad/replicad/gen/openapiv3"
	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/tracing"
	"github.com/replicad/replicad/internal/validate"
)

// Limits on what one client may make the server hold.
const (
	// maxHeaderBytes bounds request metadata (gRPC) and headers (HTTP): a
	// bearer token is at most 16 KiB, a client certificate chain a few.
	maxHeaderBytes = 64 << 10
	// maxConcurrentStreams bounds the RPCs in flight on one connection.
	maxConcurrentStreams = 256
	// streamWorkers is how many goroutines serve RPCs, each reused from one
	// RPC to the next (grpc starts a fresh goroutine for an RPC arriving
	// while all are busy, as it does for every RPC without workers). A
	// fresh goroutine's stack grows, copied each time, through the
	// interceptors, pgx and the JSON decoding of an operation: that was a
	// tenth of GetOperation's CPU (bench case 6). A worker keeps its
	// grown stack. Handlers mostly wait on PostgreSQL, so the count is the
	// concurrency served without spawning, not the CPUs; idle workers cost
	// their stacks only.
	streamWorkers = 128
)

// Config assembles a Server.
type Config struct {
	// GRPCAddr and HTTPAddr are the listen addresses (port 0 picks one).
	GRPCAddr, HTTPAddr string
	// TLS, if set, serves both listeners over TLS.
	TLS *tls.Config
	// Engine executes operations.
	Engine Engine
	// Policies serves the PolicyService; nil leaves it unregistered.
	Policies PolicyEngine
	// Rules validate requests.
	Rules *validate.Rules
	// Redactor fingerprints sensitive values.
	Redactor *redact.Redactor
	// Metrics, if set, counts and times RPCs; it runs outside audit and
	// authentication so refused requests are counted too.
	Metrics grpc.UnaryServerInterceptor
	// Trail records audit events; nil disables auditing (benchmarks only).
	Trail *audit.Trail
	// Inventory serves the InventoryService; nil leaves it unregistered.
	Inventory InventoryEngine
	// AuditReader serves the AuditService; nil leaves it unregistered.
	AuditReader AuditReader
	// Ready reports whether the service can take traffic (database
	// reachable, migrations applied): /readyz and gRPC health use it.
	Ready func(context.Context) error
	// Authenticator, if set, identifies every caller (gRPC and REST); nil
	// serves everyone as "anonymous" (--insecure-dev).
	Authenticator Authenticator
	// Authorizer, if set, decides what callers may do; nil allows all.
	Authorizer Authorizer
	// HTTPHandlers are extra HTTP routes, such as /metrics and the web
	// console's /ui/.
	HTTPHandlers map[string]http.Handler
	// BearerHeader, if set, names a request header carrying the bearer
	// token when Authorization is absent (X-Forwarded-Access-Token from an
	// authenticating proxy in front of the console).
	BearerHeader string
	// ConsoleReadOnly refuses mutating RPCs sent over REST by a browser
	// (PERMISSION_DENIED, CONSOLE_READ_ONLY): the web console's read-only
	// mode. Other clients are unaffected; the access policy still decides
	// what each caller may do.
	ConsoleReadOnly bool
	// TracerProvider traces RPCs, REST calls included (default: none).
	TracerProvider trace.TracerProvider
	// ShutdownGrace bounds the graceful stop of both listeners.
	ShutdownGrace time.Duration
	// Logger receives the server's logs.
	Logger *slog.Logger
}

// Server serves gRPC and HTTP.
type Server struct {
	cfg     Config
	grpc    *grpc.Server
	health  *health.Server
	grpcLis net.Listener
	httpLis net.Listener
	gwLis   *gatewayListener
	gwConn  *grpc.ClientConn
	http    *http.Server
	log     *slog.Logger
}

// New listens on both addresses and registers the services; Serve starts
// serving.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 20 * time.Second
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = noop.NewTracerProvider()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, health: health.NewServer()}
	var err error
	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen for gRPC on %s: %w", cfg.GRPCAddr, err)
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = s.grpcLis.Close()
		return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.HTTPAddr, err)
	}

	errs := errorMapper{red: cfg.Redactor, log: cfg.Logger}
	unary := []grpc.UnaryServerInterceptor{recoverUnary(cfg.Logger), callerUnary()}
	if cfg.Metrics != nil {
		unary = append(unary, cfg.Metrics)
	}
	if cfg.Trail != nil {
		unary = append(unary, auditUnary(cfg.Trail))
	}
	if cfg.Authenticator != nil {
		// Inside audit: a refused request is audited, with the principal
		// when it is known.
		unary = append(unary, authnUnary(cfg.Authenticator, cfg.Logger))
	}
	if cfg.ConsoleReadOnly {
		unary = append(unary, consoleReadOnlyUnary(errs))
	}
	unary = append(unary, refusalUnary(errs))
	codec := newProtoCodec()
	opts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(cfg.TracerProvider), otelgrpc.WithPropagators(tracing.Propagator()))),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ForceServerCodecV2(codec),
		// Bounds on what one client can make the server hold: the request
		// (refused, audited, past the limit: see guardDecoding), the
		// metadata (a bearer token is at most 16 KiB; grpc's default is
		// 16 MiB, which a client may send on every call), and the streams
		// of one connection.
		grpc.MaxRecvMsgSize(maxGRPCMessageBytes),
		grpc.MaxHeaderListSize(maxHeaderBytes),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
	}
	if cfg.Trail != nil {
		opts = append(opts, grpc.StatsHandler(auditFallback{trail: cfg.Trail}))
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(gatewayAwareCreds{TransportCredentials: credentials.NewTLS(cfg.TLS)}))
	}
	s.grpc = grpc.NewServer(opts...)
	rs := &replicationService{engine: cfg.Engine, rules: cfg.Rules, red: cfg.Redactor, errs: errs, authz: cfg.Authorizer,
		approvals: approvalPolicyOf(cfg.Authorizer)}
	s.grpc.RegisterService(guardDecoding(&replicadv1.ReplicationService_ServiceDesc, codec), rs)
	if cfg.Policies != nil {
		s.grpc.RegisterService(guardDecoding(&replicadv1.PolicyService_ServiceDesc, codec),
			&policyService{engine: cfg.Policies, rules: cfg.Rules, red: cfg.Redactor, errs: errs, authz: cfg.Authorizer})
	}
	if de, ok := cfg.Engine.(DREngine); ok {
		s.grpc.RegisterService(guardDecoding(&replicadv1.DisasterRecoveryService_ServiceDesc, codec), &drService{rs: rs, engine: de})
	}
	if cfg.Inventory != nil {
		s.grpc.RegisterService(guardDecoding(&replicadv1.InventoryService_ServiceDesc, codec),
			&inventoryService{engine: cfg.Inventory, rules: cfg.Rules, errs: errs, authz: cfg.Authorizer})
	}
	if cfg.AuditReader != nil {
		s.grpc.RegisterService(guardDecoding(&replicadv1.AuditService_ServiceDesc, codec), &auditService{trail: cfg.AuditReader, errs: errs, authz: cfg.Authorizer})
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	s.gwLis = newGatewayListener()
	s.gwConn, err = grpc.NewClient("passthrough:///replicad-gateway",
		grpc.WithContextDialer(s.gwLis.dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(cfg.TracerProvider), otelgrpc.WithPropagators(tracing.Propagator()))),
	)
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("gateway connection: %w", err)
	}
	gw, err := newGateway(ctx, s.gwConn, s.annotate)
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", withTraceContext(gw))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapiv2.Document)
	})
	// OpenAPI 3, for generators that refuse Swagger 2.0: as generated
	// (YAML), and in JSON.
	v3JSON, err := yaml.YAMLToJSON(openapiv3.Document)
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("OpenAPI 3 document: %w", err)
	}
	mux.HandleFunc("GET /openapi.v3.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openapiv3.Document)
	})
	mux.HandleFunc("GET /openapi.v3.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(v3JSON)
	})
	for path, h := range cfg.HTTPHandlers {
		mux.Handle(path, h)
	}
	s.http = &http.Server{
		Handler:           withCrossOriginProtection(withBearerHeader(cfg.BearerHeader, mux)),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         cfg.TLS,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// GRPCAddr returns the gRPC listener's address.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr returns the HTTP listener's address.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// SetServing flips gRPC health (readiness for gRPC clients and load
// balancers).
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(replicadv1.ReplicationService_ServiceDesc.ServiceName, st)
}

// Serve serves until ctx ends, then stops gracefully: health turns
// NOT_SERVING, new connections are refused, and in-flight requests get
// ShutdownGrace to finish.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 3)
	go func() { errc <- s.grpc.Serve(s.grpcLis) }()
	go func() { errc <- s.grpc.Serve(s.gwLis) }()
	go func() {
		var err error
		if s.cfg.TLS != nil {
			err = s.http.ServeTLS(s.httpLis, "", "")
		} else {
			err = s.http.Serve(s.httpLis)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	s.SetServing(true)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.SetServing(false)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
	defer cancel()
	if err := s.http.Shutdown(stopCtx); err != nil {
		_ = s.http.Close()
	}
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-stopCtx.Done():
		s.grpc.Stop()
		<-stopped
	}
	_ = s.gwConn.Close()
	return serveErr
}

func (s *Server) closeListeners() {
	_ = s.grpcLis.Close()
	_ = s.httpLis.Close()
	if s.gwLis != nil {
		_ = s.gwLis.Close()
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "error", s.cfg.Redactor.Text(err.Error()))
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// annotate passes the REST client's own address and verified certificate
// chain to the gRPC server (the gateway's connection is in-process).
func (s *Server) annotate(ctx context.Context, r *http.Request) metadata.MD {
	md := metadata.Join(metadata.Pairs(mdClientAddress, r.RemoteAddr), clientCertMetadata(r))
	if v := r.Header.Get(BreakGlassHeader); v != "" {
		md.Set(BreakGlassHeader, v)
	}
	if browserRequest(r) {
		md.Set(mdBrowser, "1")
	}
	return md
}

// gatewayAwareCreds serves TLS to network clients but plaintext on the
// in-process gateway listener, which never leaves the process.
type gatewayAwareCreds struct {
	credentials.TransportCredentials
}

func (c gatewayAwareCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(gatewayConn); ok {
		return insecure.NewCredentials().ServerHandshake(conn)
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

func (c gatewayAwareCreds) Clone() credentials.TransportCredentials {
	return gatewayAwareCreds{c.TransportCredentials.Clone()}
}

// withTraceContext continues a REST client's trace (W3C traceparent
// header): the gateway's gRPC client span, and everything after it, joins
// it. No HTTP span is recorded: its standard attributes include the URL
// path, and REST paths carry secret ARNs.
func withTraceContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := tracing.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
