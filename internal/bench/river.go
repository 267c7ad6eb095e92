package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/replicad/replicad/internal/queue"
)

// riverBaselineConns is the baseline's pool size: replicad's
// --queue-max-conns default, the pool its workers use.
const riverBaselineConns = 20

type noopArgs struct{}

func (noopArgs) Kind() string { return "bench.noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// riverRun is what the River baseline measured.
type riverRun struct {
	// Jobs completed, and the span they were worked in (queueWindow).
	Jobs int64
	Span time.Duration
	// Wall is from Start to the last completion seen.
	Wall time.Duration
	// CPU is PostgreSQL's and this process's while the jobs were worked.
	CPU cpuSample
}

// riverBaseline is River alone on db: n no-op jobs inserted up front, then
// worked by one client with the given worker count and replicad's fetch
// settings.
func (s *Stack) riverBaseline(ctx context.Context, db string, n, workers int) (rr riverRun, err error) {
	cfg, err := pgxpool.ParseConfig(db)
	if err != nil {
		return rr, err
	}
	cfg.MaxConns = riverBaselineConns
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return rr, err
	}
	defer p.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	migrator, err := rivermigrate.New(riverpgxv5.New(p), &rivermigrate.Config{Logger: quiet})
	if err != nil {
		return rr, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return rr, fmt.Errorf("river migrations: %w", err)
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, noopWorker{})
	client, err := river.NewClient(riverpgxv5.New(p), &river.Config{
		Logger:            quiet,
		Workers:           ws,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		FetchCooldown:     queue.FetchCooldownDefault,
		FetchPollInterval: queue.FetchPollIntervalDefault,
	})
	if err != nil {
		return rr, err
	}
	params := make([]river.InsertManyParams, 0, 1000)
	for i := 0; i < n; i += cap(params) {
		params = params[:0]
		for range min(cap(params), n-i) {
			params = append(params, river.InsertManyParams{Args: noopArgs{}})
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return rr, fmt.Errorf("insert jobs: %w", err)
		}
	}
	before := s.sampleCPU(nil)
	began := time.Now()
	if err := client.Start(ctx); err != nil {
		return rr, err
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = client.Stop(stop)
	}()
	for {
		var done int64
		if err := p.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&done); err != nil {
			return rr, err
		}
		if done >= int64(n) {
			break
		}
		if time.Since(began) > 10*time.Minute {
			return rr, fmt.Errorf("river baseline: %d of %d jobs completed after 10 minutes", done, n)
		}
		select {
		case <-ctx.Done():
			return rr, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	rr.Wall = time.Since(began)
	rr.CPU = s.sampleCPU(nil).sub(before)
	rr.Jobs, rr.Span, err = queueWindow(ctx, db)
	return rr, err
}
