// Package tracing sets up OpenTelemetry for replicad: a tracer provider that
// exports spans by OTLP/HTTP when an endpoint is configured and is a no-op
// otherwise, W3C trace-context propagation, and the small pieces that carry
// one trace from an RPC through the queue to the AWS calls: a textual
// carrier stored with each operation, and a database tracer that records
// queries only inside an existing trace (so the queue's background polling
// does not flood the backend with root spans).
package tracing

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config configures tracing.
type Config struct {
	// OTLPEndpoint is the OTLP/HTTP endpoint (host:port, or a URL);
	// empty disables tracing.
	OTLPEndpoint string
	// Insecure sends OTLP over plain HTTP.
	Insecure bool
	// SampleRatio is the fraction of new traces recorded (default 1).
	SampleRatio float64
	// ServiceName names the service in spans (default "replicad").
	ServiceName string
}

// Propagator is the context propagation replicad uses everywhere.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Setup returns the tracer provider and a function flushing and stopping it.
func Setup(ctx context.Context, cfg Config) (trace.TracerProvider, func(context.Context) error, error) {
	if cfg.OTLPEndpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{}
	if u, err := url.Parse(cfg.OTLPEndpoint); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces" // the OTLP/HTTP default, which a bare URL would lose
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(cfg.OTLPEndpoint))
	}
	if cfg.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "replicad"
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
	)
	return tp, tp.Shutdown, nil
}

// Inject returns the trace context of ctx as a W3C traceparent header value
// (empty when ctx carries no sampled span), to store with an operation.
func Inject(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// Extract returns ctx with the remote span context stored by Inject.
func Extract(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// DBTracer is what the database pool is given: pgx traces plain queries
// through QueryTracer and pipelined batches through BatchTracer, and the hot
// paths send most of their statements in batches, so a tracer that only
// implemented the first would leave a worker's transactions out of its trace.
type DBTracer interface {
	pgx.QueryTracer
	pgx.BatchTracer
}

// ParentOnly wraps a pgx tracer so that it records only queries and batches
// made inside an existing trace.
func ParentOnly(t DBTracer) DBTracer { return parentOnly{t} }

type parentOnly struct{ t DBTracer }

type skippedKey struct{}

func skip(ctx context.Context) (context.Context, bool) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, false
	}
	return context.WithValue(ctx, skippedKey{}, true), true
}

func skipped(ctx context.Context) bool { return ctx.Value(skippedKey{}) != nil }

func (p parentOnly) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if ctx, ok := skip(ctx); ok {
		return ctx
	}
	return p.t.TraceQueryStart(ctx, conn, data)
}

func (p parentOnly) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if !skipped(ctx) {
		p.t.TraceQueryEnd(ctx, conn, data)
	}
}

func (p parentOnly) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if ctx, ok := skip(ctx); ok {
		return ctx
	}
	return p.t.TraceBatchStart(ctx, conn, data)
}

func (p parentOnly) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if !skipped(ctx) {
		p.t.TraceBatchQuery(ctx, conn, data)
	}
}

func (p parentOnly) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	if !skipped(ctx) {
		p.t.TraceBatchEnd(ctx, conn, data)
	}
}
