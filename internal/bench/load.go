package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Load is a closed-loop load: Clients goroutines each send one request at a
// time, back to back, for Warmup and then Duration. Only requests started
// within the measured Duration count, so connection set-up, cold caches and
// the first audit batches do not skew the figures.
type Load struct {
	Clients  int
	Warmup   time.Duration
	Duration time.Duration
	// AtStart and AtEnd, if set, are called when the measured window opens
	// and closes (to sample CPU time over exactly that window).
	AtStart, AtEnd func()
}

// LoadResult is what a Load measured.
type LoadResult struct {
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Throughput float64 `json:"throughput_per_s"`
	Latency    Summary `json:"latency"`
}

// Run calls do until the load ends. client is the goroutine's index (for
// per-client connections), seq a number unique across the whole run (for
// unique names). A failed request counts as an error and the client goes
// on: a benchmark reports errors rather than stopping at the first.
func (l Load) Run(ctx context.Context, do func(ctx context.Context, client int, seq int64) error) LoadResult {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		all    Latencies
		res    LoadResult
		wg     sync.WaitGroup
		start  = time.Now()
		from   = start.Add(l.Warmup)
		until  = from.Add(l.Duration)
		failed int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(time.Until(from))
		if l.AtStart != nil {
			l.AtStart()
		}
		time.Sleep(time.Until(until))
		if l.AtEnd != nil {
			l.AtEnd()
		}
	}()
	for c := range l.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine Latencies
			var errs int
			var firstErr error
			for ctx.Err() == nil {
				began := time.Now()
				if !began.Before(until) {
					break
				}
				err := do(ctx, c, next.Add(1))
				took := time.Since(began)
				if began.Before(from) {
					continue
				}
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				mine.Add(took)
			}
			mu.Lock()
			defer mu.Unlock()
			all.Merge(&mine)
			failed += errs
			if firstErr != nil && res.FirstError == "" {
				res.FirstError = firstErr.Error()
			}
		}()
	}
	wg.Wait()
	res.Requests = all.Len()
	res.Errors = failed
	res.Throughput = float64(all.Len()) / l.Duration.Seconds()
	res.Latency = all.Summarize()
	return res
}

// forEach calls do for every i in [0, n) from workers goroutines and
// returns the first error, after which the others stop taking work. It is
// how the cases populate: seeding secrets, accepting backlogs.
func forEach(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range min(workers, max(n, 1)) {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return ctx.Err()
				}
				if err := do(ctx, i); err != nil {
					return fmt.Errorf("item %d: %w", i, err)
				}
			}
		})
	}
	return g.Wait()
}
