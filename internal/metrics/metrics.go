// Package metrics exposes replicad's Prometheus metrics: RPCs by method,
// code and transport with latency (go-grpc-middleware's provider),
// operations by kind and final state with duration, queue depth and the
// age of the oldest pending operation (read from the operations table at
// scrape time, so every replica reports the same truth), and AWS calls by
// API, Region and outcome with latency, throttles and rate-limiter waits.
//
// Label values are only ever bounded, non-sensitive sets: method names,
// codes, kinds, states, API names, Regions from the server's allow-list and
// error classes. Secret names and other request values never become labels.
package metrics

import (
	"context"
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/buildinfo"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

const namespace = "replicad"

// Metrics holds every collector, on its own registry (no global state).
type Metrics struct {
	reg *prometheus.Registry
	rpc *grpcprom.ServerMetrics

	opsAccepted   *prometheus.CounterVec
	opsFinished   *prometheus.CounterVec
	opDuration    *prometheus.HistogramVec
	awsRequests   *prometheus.CounterVec
	awsLatency    *prometheus.HistogramVec
	awsThrottles  *prometheus.CounterVec
	rateWait      *prometheus.HistogramVec
	budgetShare   prometheus.Gauge
	auditBatch    prometheus.Histogram
	auditFailed   prometheus.Counter
	transportFrom func(context.Context) string
}

// New registers the collectors. db, if set, feeds the table-backed gauges;
// transport tells "grpc" from "rest" for a request's context.
func New(db *pgxpool.Pool, transport func(context.Context) string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:           reg,
		transportFrom: transport,
		rpc: grpcprom.NewServerMetrics(
			grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(0.0005, 2, 16))),
			grpcprom.WithContextLabels("transport"),
		),
		opsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "operations_accepted_total",
			Help: "Operations accepted by this process, by kind.",
		}, []string{"kind"}),
		opsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "operations_finished_total",
			Help: "Operations this process brought to a terminal state, by kind and state.",
		}, []string{"kind", "state"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "operation_duration_seconds",
			Help:    "Time from acceptance to terminal state, by kind and state.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}, []string{"kind", "state"}),
		awsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "aws_requests_total",
			Help: "Secrets Manager request attempts, by API, Region and outcome (ok or an error class).",
		}, []string{"api", "region", "outcome"}),
		awsLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "aws_request_duration_seconds",
			Help:    "Secrets Manager request attempt latency, by API and Region.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"api", "region"}),
		awsThrottles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "aws_throttles_total",
			Help: "Throttling errors answered by Secrets Manager, by API and Region.",
		}, []string{"api", "region"}),
		rateWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "aws_rate_limit_wait_seconds",
			Help:    "Time attempts waited for the per-(account, Region) rate budget, by API and Region.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"api", "region"}),
		budgetShare: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "aws_budget_share_instances",
			Help: "How many live processes this process splits the AWS rate budgets with, itself included.",
		}),
	}
	m.auditBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "audit_batch_size",
		Help:    "Audit events per group-committed insert (the count is the number of inserts).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	m.auditFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "audit_events_failed_total",
		Help: "Audit events that could not be stored (their RPC failed with UNAVAILABLE, or the event went to the log only).",
	})
	bi := buildinfo.Read()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	buildInfo.Set(1)
	m.budgetShare.Set(1)
	reg.MustRegister(m.rpc, m.auditBatch, m.auditFailed, buildInfo, m.opsAccepted, m.opsFinished, m.opDuration, m.awsRequests, m.awsLatency, m.awsThrottles, m.rateWait, m.budgetShare,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		reg.MustRegister(&tableCollector{db: db})
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the collectors are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// UnaryInterceptor counts and times RPCs.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return m.rpc.UnaryServerInterceptor(grpcprom.WithLabelsFromContext(func(ctx context.Context) prometheus.Labels {
		return prometheus.Labels{"transport": m.transportFrom(ctx)}
	}))
}

// InitializeRPCs pre-creates the RPC series at zero, so rates exist from
// the first scrape.
func (m *Metrics) InitializeRPCs(s *grpc.Server) { m.rpc.InitializeMetrics(s) }

// AuditBatch records one audit insert (audit.WriterObserver).
func (m *Metrics) AuditBatch(size, failed int) {
	m.auditBatch.Observe(float64(size))
	m.auditFailed.Add(float64(failed))
}

// WatchAuditQueue reports, at each scrape, how many audit events wait to be
// written.
func (m *Metrics) WatchAuditQueue(queued func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "audit_queued_events",
		Help: "Audit events waiting for the writer (a backlog means the database is slow to commit them).",
	}, func() float64 { return float64(queued()) }))
}

// WatchPools reports the database pools' statistics at each scrape, by
// pool name.
func (m *Metrics) WatchPools(pools map[string]*pgxpool.Pool) {
	m.reg.MustRegister(&poolCollector{pools: pools})
}

// BudgetShared records how many processes share the AWS rate budgets.
func (m *Metrics) BudgetShared(instances int) { m.budgetShare.Set(float64(instances)) }

// OperationAccepted counts an accepted operation.
func (m *Metrics) OperationAccepted(kind domain.Kind) {
	m.opsAccepted.WithLabelValues(string(kind)).Inc()
}

// OperationFinished counts an operation reaching a terminal state
// (engine.Observer).
func (m *Metrics) OperationFinished(op domain.Operation) {
	m.opsFinished.WithLabelValues(string(op.Kind), string(op.State)).Inc()
	if !op.EndedAt.IsZero() {
		m.opDuration.WithLabelValues(string(op.Kind), string(op.State)).Observe(op.EndedAt.Sub(op.CreatedAt).Seconds())
	}
}

// ObserveAttempt records one AWS request attempt (awssm.Observer).
func (m *Metrics) ObserveAttempt(_ context.Context, a awssm.Attempt) {
	outcome := "ok"
	if a.ErrorCode != "" {
		outcome = className(a.Class)
	}
	m.awsRequests.WithLabelValues(a.API, a.Region, outcome).Inc()
	m.awsLatency.WithLabelValues(a.API, a.Region).Observe(a.Duration.Seconds())
	m.rateWait.WithLabelValues(a.API, a.Region).Observe(a.Waited.Seconds())
	if a.Throttled {
		m.awsThrottles.WithLabelValues(a.API, a.Region).Inc()
	}
}

func className(c awssm.Class) string {
	switch c {
	case awssm.ClassThrottled:
		return "throttled"
	case awssm.ClassUnavailable:
		return "unavailable"
	case awssm.ClassNotFound:
		return "not_found"
	case awssm.ClassInvalidArgument:
		return "invalid_argument"
	case awssm.ClassFailedPrecondition:
		return "failed_precondition"
	case awssm.ClassPermissionDenied:
		return "permission_denied"
	case awssm.ClassResourceExhausted:
		return "resource_exhausted"
	default:
		return "other"
	}
}

// tableCollector reads the operations table at scrape time.
type tableCollector struct{ db *pgxpool.Pool }

var (
	opsDesc = prometheus.NewDesc(namespace+"_operations",
		"Operations in the table, by kind and state (all replicas agree: it is read from the database).", []string{"kind", "state"}, nil)
	queueDepthDesc = prometheus.NewDesc(namespace+"_queue_depth",
		"Operations accepted and not yet finished (PENDING or RUNNING).", nil, nil)
	oldestPendingDesc = prometheus.NewDesc(namespace+"_oldest_pending_operation_age_seconds",
		"Age of the oldest PENDING operation; 0 when none.", nil, nil)
	scrapeErrorDesc = prometheus.NewDesc(namespace+"_operations_scrape_error",
		"1 if reading the operations table for this scrape failed.", nil, nil)
)

func (c *tableCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- opsDesc
	ch <- queueDepthDesc
	ch <- oldestPendingDesc
	ch <- scrapeErrorDesc
}

func (c *tableCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, oldest, err := store.OperationStats(ctx, c.db)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 0)
	var depth float64
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(opsDesc, prometheus.GaugeValue, float64(n), string(k.Kind), string(k.State))
		if !k.State.Terminal() {
			depth += float64(n)
		}
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, depth)
	age := 0.0
	if !oldest.IsZero() {
		age = time.Since(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(oldestPendingDesc, prometheus.GaugeValue, age)
}

// poolCollector reads pgxpool statistics at scrape time.
type poolCollector struct{ pools map[string]*pgxpool.Pool }

var (
	poolConnsDesc = prometheus.NewDesc(namespace+"_db_pool_connections",
		"Connections of a database pool, by state (acquired, idle, constructing) and the pool's maximum (max).", []string{"pool", "state"}, nil)
	poolAcquiresDesc = prometheus.NewDesc(namespace+"_db_pool_acquires_total",
		"Connections acquired from a pool; empty: the acquire had to wait for one; canceled: it gave up.", []string{"pool", "kind"}, nil)
	poolAcquireWaitDesc = prometheus.NewDesc(namespace+"_db_pool_acquire_wait_seconds_total",
		"Total time spent acquiring connections from a pool.", []string{"pool"}, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolAcquiresDesc
	ch <- poolAcquireWaitDesc
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, p := range c.pools {
		st := p.Stat()
		for state, n := range map[string]int32{"acquired": st.AcquiredConns(), "idle": st.IdleConns(), "constructing": st.ConstructingConns(), "max": st.MaxConns()} {
			ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(n), name, state)
		}
		for kind, n := range map[string]int64{"all": st.AcquireCount(), "empty": st.EmptyAcquireCount(), "canceled": st.CanceledAcquireCount()} {
			ch <- prometheus.MustNewConstMetric(poolAcquiresDesc, prometheus.CounterValue, float64(n), name, kind)
		}
		ch <- prometheus.MustNewConstMetric(poolAcquireWaitDesc, prometheus.CounterValue, st.AcquireDuration().Seconds(), name)
	}
}
