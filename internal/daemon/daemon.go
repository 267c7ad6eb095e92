// Package daemon assembles a replicad server from its configuration: the
// database pools and migrations, the AWS adapter, the operations engine and
// the API server, and runs them until asked to stop, draining in-flight
// work. cmd/replicad is a thin shell around it; end-to-end tests start it
// in-process the same way.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/auth"
	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/buildinfo"
	"github.com/replicad/replicad/internal/console"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/inventory"
	"github.com/replicad/replicad/internal/metrics"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/seal"
	"github.com/replicad/replicad/internal/tracing"
	"github.com/replicad/replicad/internal/validate"
	"github.com/replicad/replicad/migrations"
	"github.com/replicad/replicad/server"
	"github.com/replicad/replicad/store"
)

// Daemon is a started replicad server.
type Daemon struct {
	cfg     Config
	api     *pgxpool.Pool
	work    *pgxpool.Pool
	engine  *engine.Engine
	scanner *inventory.Scanner
	server  *server.Server
	writer  *audit.Writer
	metrics *metrics.Metrics
	// metricsLn serves /metrics alone when Config.MetricsAddr is set;
	// pprofLn serves profiling when Config.PprofAddr is. Both are opened by
	// Start, so a port in use is a start-up error, not one in mid-run.
	metricsLn net.Listener
	pprofLn   net.Listener
	// Access control, each nil when not configured.
	tls    *auth.TLSReloader
	authn  *auth.Authenticator
	policy *access.Store
	sm     *awssm.Client
	// instance identifies this process among those sharing the database.
	instance string
	share    int
	// stopTracing flushes and stops the tracer provider Start built.
	stopTracing func(context.Context) error
	chainer     *audit.Chainer
	log         *slog.Logger
}

// Start connects, migrates and listens. Run serves.
func Start(ctx context.Context, cfg Config) (d *Daemon, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.AWS.Accounts) == 0 {
		if err := cfg.LoadAccounts(); err != nil {
			return nil, err
		}
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = HeartbeatDefault
	}
	log := cfg.Logger
	log.Info("effective configuration", "version", buildinfo.Read().String(), "config", cfg)
	if cfg.InsecureDev {
		log.Warn("insecure development mode: no authentication, loopback only")
	}
	d = &Daemon{cfg: cfg, log: log, stopTracing: func(context.Context) error { return nil }}
	// Not d: "return nil, err" clears the named result before this runs.
	started := d
	defer func() {
		if err != nil {
			started.close()
		}
	}()
	tp := cfg.TracerProvider
	if tp == nil {
		if tp, d.stopTracing, err = tracing.Setup(ctx, cfg.Tracing); err != nil {
			return nil, err
		}
	}
	dbTracer := tracing.ParentOnly(otelpgx.NewTracer(otelpgx.WithTracerProvider(tp)))
	if d.api, err = newPool(ctx, cfg.DatabaseURL, cfg.DBMaxConns, "replicad-api", dbTracer); err != nil {
		return nil, err
	}
	if d.work, err = newPool(ctx, cfg.DatabaseURL, cfg.QueueMaxConns, "replicad-queue", dbTracer); err != nil {
		return nil, err
	}
	res, err := migrations.Apply(ctx, d.api, log)
	if err != nil {
		return nil, err
	}
	if len(res.Applied) > 0 || len(res.RiverApplied) > 0 {
		log.Info("migrations applied", "replicad", res.Applied, "river", res.RiverApplied)
	}

	box, err := seal.New(cfg.DataKeys[0], cfg.DataKeys[1:]...)
	if err != nil {
		return nil, err
	}
	red, err := redact.New(cfg.FingerprintKey)
	if err != nil {
		return nil, err
	}
	rules, err := validate.NewRules(cfg.AllowedRegions, cfg.DefaultRegion)
	if err != nil {
		return nil, err
	}
	d.metrics = metrics.New(d.api, func(ctx context.Context) string { return server.CallerFrom(ctx).Transport })
	d.metrics.WatchPools(map[string]*pgxpool.Pool{"api": d.api, "queue": d.work})
	observers := awssm.Observers{d.metrics}
	var trail *audit.Trail
	if !cfg.AuditDisabled {
		d.writer = audit.NewWriter(d.api, audit.WriterConfig{Log: log.With("log", "audit"), Observer: d.metrics})
		d.writer.Run()
		d.metrics.WatchAuditQueue(d.writer.Queued)
		trail = audit.NewTrail(d.writer, red, log)
		d.chainer = audit.NewChainer(d.api, cfg.AuditChainInterval, log)
		observers = append(observers, trail)
	}
	cfg.AWS.Observer = observers
	cfg.AWS.TracerProvider = tp
	sm, err := awssm.New(ctx, cfg.AWS)
	if err != nil {
		return nil, err
	}
	d.sm = sm
	d.instance = uuid.Must(uuid.NewV7()).String()
	if err := d.heartbeat(ctx); err != nil {
		return nil, err
	}
	engCfg := cfg.Engine
	if engCfg.Queue.ID == "" {
		// The queue's client id is the instance id, so the jobs a dead
		// instance was executing can be found by its heartbeat (rescueLoop).
		engCfg.Queue.ID = d.instance
	}
	engCfg.Logger = log
	engCfg.Observer = engineObservers{d.metrics, operationLog{log}}
	engCfg.TracerProvider = tp
	// Policies' budget shares and estimates are shares of the configured
	// write budget.
	engCfg.WriteRate = cfg.AWS.WriteRate
	if engCfg.WaitReadRate == 0 {
		// Waiting operations may use half of each (account, Region)'s
		// read budget, the rest going to first looks and Status; with the
		// read budget off, so is the pacing (a fixed rate here would become
		// the bound: 125 looks/s once held a drain at 115 operations/s).
		switch {
		case cfg.AWS.ReadRate < 0:
			engCfg.WaitReadRate = -1
		case cfg.AWS.ReadRate > 0:
			engCfg.WaitReadRate = cfg.AWS.ReadRate / 2
		}
	}
	if trail != nil {
		engCfg.Auditor = approvalAudit{trail}
	}
	if d.engine, err = engine.New(d.api, d.work, box, red, sm, engCfg); err != nil {
		return nil, err
	}
	if cfg.Inventory.Interval > 0 {
		icfg := cfg.Inventory
		icfg.Owner = d.instance
		icfg.Targets = scanTargets(cfg)
		icfg.Logger = log.With("log", "inventory")
		if d.scanner, err = inventory.New(d.work, sm, store.New(box), icfg); err != nil {
			return nil, err
		}
	}
	scfg := server.Config{}
	if err := d.accessControl(ctx, &scfg); err != nil {
		return nil, err
	}
	handlers := map[string]http.Handler{}
	if cfg.MetricsAddr != "" {
		if d.metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
	} else {
		handlers["GET /metrics"] = d.metrics.Handler()
	}
	if !cfg.UIOff {
		regions := cfg.AllowedRegions
		if len(regions) == 0 {
			regions = validate.DefaultAllowedRegions
		}
		ui, err := console.New(console.Options{ReadOnly: cfg.UIReadOnly, AllowedRegions: regions,
			DefaultRegion: cfg.DefaultRegion, Version: buildinfo.Read().String()})
		if err != nil {
			return nil, err
		}
		handlers["/ui/"] = ui
		handlers["GET /ui"] = http.HandlerFunc(console.Redirect)
	}
	if cfg.PprofAddr != "" {
		if d.pprofLn, err = net.Listen("tcp", cfg.PprofAddr); err != nil {
			return nil, fmt.Errorf("pprof listener: %w", err)
		}
	}
	d.server, err = server.New(ctx, server.Config{
		TLS:            scfg.TLS,
		Authenticator:  scfg.Authenticator,
		Authorizer:     scfg.Authorizer,
		GRPCAddr:       cfg.GRPCAddr,
		HTTPAddr:       cfg.HTTPAddr,
		Engine:         d.engine,
		Policies:       d.engine,
		Inventory:      d.engine,
		Rules:          rules,
		Redactor:       red,
		Trail:          trail,
		AuditReader:    audit.NewReader(d.api, red, cfg.AuditExportDir),
		Metrics:        d.metrics.UnaryInterceptor(),
		TracerProvider: tp,
		HTTPHandlers:   handlers,
		BearerHeader:   cfg.AuthTokenHeader,
		// Read-only is the console's mode; without the console there is
		// nothing to be read-only about.
		ConsoleReadOnly: cfg.UIReadOnly && !cfg.UIOff,
		Ready:           d.ready,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// GRPCAddr is the gRPC listener's address.
func (d *Daemon) GRPCAddr() string { return d.server.GRPCAddr() }

// HTTPAddr is the HTTP listener's address.
func (d *Daemon) HTTPAddr() string { return d.server.HTTPAddr() }

// MetricsAddr is the metrics listener's address, or "" when /metrics is
// served on HTTPAddr.
func (d *Daemon) MetricsAddr() string {
	if d.metricsLn == nil {
		return ""
	}
	return d.metricsLn.Addr().String()
}

// Run serves and works operations until ctx ends, then stops accepting
// requests and drains: in-flight operations get Config.Drain to finish,
// after which their jobs go back to the queue for another process.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.close()
	d.log.Info("serving", "grpc_addr", d.GRPCAddr(), "http_addr", d.HTTPAddr(), "instance", d.instance)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.server.Serve(ctx) })
	g.Go(func() error { return d.engine.Run(ctx, d.cfg.Drain) })
	if d.scanner != nil {
		g.Go(func() error { return d.scanner.Run(ctx) })
	}
	g.Go(func() error { d.heartbeats(ctx); return nil })
	g.Go(func() error { d.watchAccessControl(ctx); return nil })
	if d.chainer != nil {
		g.Go(func() error { d.chainer.Run(ctx); return nil })
		if d.cfg.AuditRetention > 0 {
			r := &audit.Retention{Pool: d.api, MaxAge: d.cfg.AuditRetention, ExportDir: d.cfg.AuditExportDir, Log: d.log}
			g.Go(func() error { r.Run(ctx, d.cfg.AuditPruneInterval); return nil })
		}
	}
	if d.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", d.metrics.Handler())
		g.Go(func() error { return serveUntilDone(ctx, "metrics", d.metricsLn, mux) })
	}
	if d.pprofLn != nil {
		g.Go(func() error { return serveUntilDone(ctx, "pprof", d.pprofLn, pprofMux()) })
	}
	err := g.Wait()
	// The API has stopped: commit the accepts handed over.
	d.engine.Close()
	if d.writer != nil {
		// Requests and workers have stopped: store their last events, then
		// link them.
		d.writer.Close()
		final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = d.chainer.ChainOnce(final)
		d.chainer.LogHead(final)
		cancel()
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	d.log.Info("stopped")
	return err
}

// serveUntilDone serves an auxiliary plain-HTTP listener until ctx ends.
func serveUntilDone(ctx context.Context, name string, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener: %w", name, err)
	}
	return nil
}

// Instance heartbeats: every process takes an equal share of the AWS rate
// budgets, recomputed every Config.Heartbeat as processes come and go; a
// process silent for three intervals no longer counts.
func (d *Daemon) heartbeatTTL() time.Duration { return 3 * d.cfg.Heartbeat }

func (d *Daemon) heartbeat(ctx context.Context) error {
	n, err := store.Heartbeat(ctx, d.api, d.instance, d.heartbeatTTL())
	if err != nil {
		return err
	}
	if n != d.share {
		d.log.InfoContext(ctx, "AWS rate budgets shared", "instances", n,
			"write_rate_here", d.cfg.AWS.WriteRate/float64(n), "read_rate_here", d.cfg.AWS.ReadRate/float64(n))
		d.share = n
	}
	d.sm.ShareBudgets(n)
	d.metrics.BudgetShared(n)
	return nil
}

// deadAfter is how long an instance's heartbeat may be silent before the
// others take the jobs it was executing: two intervals, so one late
// heartbeat never costs an execution, and, with the rescue pass every half
// interval, a killed process's work is picked up within about 2.5 intervals
// of its last heartbeat (7.5 s at the default 3 s), far sooner than
// --rescue-after, which stays as the queue's own safety net.
func (d *Daemon) deadAfter() time.Duration { return 2 * d.cfg.Heartbeat }

func (d *Daemon) heartbeats(ctx context.Context) {
	t := time.NewTicker(d.cfg.Heartbeat)
	defer t.Stop()
	rescue := time.NewTicker(d.cfg.Heartbeat / 2)
	defer rescue.Stop()
	// healthySince is when this process's heartbeats started succeeding
	// without a break (Start's succeeded). Only a process that has been
	// beating for a whole deadAfter may judge others dead: one that was cut
	// off from the database would otherwise, on reconnecting first, take
	// the jobs of processes that were only as silent as it was.
	healthySince := time.Now()
	for {
		select {
		case <-ctx.Done():
			bye, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			_ = store.DeleteInstance(bye, d.api, d.instance, d.heartbeatTTL())
			cancel()
			return
		case <-t.C:
			if err := d.heartbeat(ctx); err != nil {
				healthySince = time.Time{}
				if ctx.Err() == nil {
					d.log.WarnContext(ctx, "heartbeat failed", "error", err)
				}
			} else if healthySince.IsZero() {
				healthySince = time.Now()
			}
		case <-rescue.C:
			if healthySince.IsZero() || time.Since(healthySince) < d.deadAfter() {
				continue
			}
			if _, err := d.engine.RescueDead(ctx, d.deadAfter()); err != nil && ctx.Err() == nil {
				d.log.WarnContext(ctx, "rescue pass failed", "error", err)
			}
		}
	}
}

func (d *Daemon) ready(ctx context.Context) error {
	if err := d.api.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return migrations.Check(ctx, d.api)
}

func (d *Daemon) close() {
	flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = d.stopTracing(flush)
	cancel()
	// Already closed after Run; not after a failed Start.
	for _, ln := range []net.Listener{d.metricsLn, d.pprofLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	if d.engine != nil {
		d.engine.Close()
	}
	if d.writer != nil {
		d.writer.Close()
	}
	if d.api != nil {
		d.api.Close()
	}
	if d.work != nil {
		d.work.Close()
	}
}

func newPool(ctx context.Context, url string, maxConns int, name string, tracer tracing.DBTracer) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: say what is wrong, not what it is.
		return nil, errors.New("--database-url is not a valid PostgreSQL URL")
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	return pool, nil
}

// pprofMux serves the Go profiler on its own mux (never on the API's).
func pprofMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// engineObservers tells each observer of the engine.
type engineObservers []engine.Observer

func (o engineObservers) OperationAccepted(kind domain.Kind) {
	for _, x := range o {
		x.OperationAccepted(kind)
	}
}

func (o engineObservers) OperationFinished(op domain.Operation) {
	for _, x := range o {
		x.OperationFinished(op)
	}
}

// operationLog writes one line when an operation reaches its terminal
// state (the queue only logs retries): INFO when it succeeded or was
// cancelled, WARN when it failed. The secret is the redacted display form;
// the error message is the operation's, already scrubbed by the engine.
type operationLog struct{ log *slog.Logger }

func (operationLog) OperationAccepted(domain.Kind) {}

func (l operationLog) OperationFinished(op domain.Operation) {
	level, msg := slog.LevelInfo, "operation finished"
	if op.State == domain.StateFailed {
		level, msg = slog.LevelWarn, "operation failed"
	}
	attrs := []any{"operation_id", op.ID.String(), "kind", string(op.Kind), "state", string(op.State),
		"secret", op.SecretDisplay, "aws_region", op.AWSRegion, "attempts", op.Attempts}
	if !op.EndedAt.IsZero() {
		attrs = append(attrs, "duration", op.EndedAt.Sub(op.CreatedAt).Round(time.Millisecond).String())
	}
	if op.Error != nil {
		attrs = append(attrs, "error_code", op.Error.Code.String(), "error", op.Error.Message)
	}
	l.log.Log(context.Background(), level, msg, attrs...)
}

// scanTargets are the (account, Region)s the inventory scans: each
// configured account's Regions, or the ambient account's.
func scanTargets(cfg Config) []store.ScanTarget {
	var out []store.ScanTarget
	if len(cfg.AWS.Accounts) > 0 {
		for _, a := range cfg.AWS.Accounts {
			id := a.ID
			if id == "" {
				// awssm.New refused an account whose role ARN names none.
				id, _ = awssm.AccountOfRole(a.RoleARN)
			}
			for _, r := range a.Regions {
				out = append(out, store.ScanTarget{Account: id, Region: r})
			}
		}
		return out
	}
	regions := cfg.InventoryRegions
	if len(regions) == 0 {
		regions = cfg.AllowedRegions
	}
	if len(regions) == 0 && cfg.DefaultRegion != "" {
		regions = []string{cfg.DefaultRegion}
	}
	for _, r := range regions {
		out = append(out, store.ScanTarget{Region: r})
	}
	return out
}
