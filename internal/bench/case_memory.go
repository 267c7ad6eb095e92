package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

const mib = 1 << 20

// Case 7: the peak RSS of one replicad working a large backlog on top of a
// large history.
func (r *Runner) memory(ctx context.Context, res *Result) (err error) {
	stored, queued := r.Sizes.MemoryStored, r.Sizes.MemoryQueued
	res.Size["historical_operations"] = stored
	res.Size["queued_operations"] = queued
	res.Settings["replicad_flags"] = unlimitedAWS()
	res.note("History: %d SUCCEEDED Replicate operations bulk-loaded with COPY (sealed params bound to their ids, three recorded AWS calls each, no jobs, created over the past 30 days; no audit events). Backlog: %d Replicates on as many secrets accepted through the API by an API-only replicad, so %d River jobs are available at once. %d operations are stored in all.", stored, queued, queued, stored+queued)
	res.note("Then a fresh replicad with workers (default 50) works the backlog; its VmHWM (/proc/PID/status) after the last operation ended is the peak. /metrics is scraped every 5 s meanwhile, as Prometheus would (its collector reads the operations table).")

	sm, err := r.Stack.StartStandin(ctx, "standin-memory")
	if err != nil {
		return err
	}
	defer stopInto(&err, sm.process)
	names := secretNames("bench/memory/s", queued)
	if err := sm.Seed(ctx, names); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	db, err := r.Stack.NewDatabase(ctx, "bench_memory")
	if err != nil {
		return err
	}
	began := time.Now()
	if err := insertHistory(ctx, db, r.Stack.dataKey, stored); err != nil {
		return err
	}
	r.Stack.logf("  loaded %d historical operations in %.1fs", stored, time.Since(began).Seconds())
	if _, err := r.acceptBacklog(ctx, "replicad-memory-accept", db, sm.URL, queued, func(i int) (string, string) {
		return names[i], "eu-west-1"
	}); err != nil {
		return err
	}
	counts, err := stateCounts(ctx, db)
	if err != nil {
		return err
	}
	if counts["pending"] != int64(queued) || counts["succeeded"] != int64(stored) {
		return fmt.Errorf("before the run: states %v, want %d pending and %d succeeded", counts, queued, stored)
	}

	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-memory", DatabaseURL: db, AWSEndpoint: sm.URL, Flags: unlimitedAWS()})
	if err != nil {
		return err
	}
	defer stopInto(&err, rd.process)
	startRSS, _ := rd.RSS()
	scrapeCtx, stopScrapes := context.WithCancel(ctx)
	scrapes := make(chan int, 1)
	go func() { scrapes <- scrapeMetrics(scrapeCtx, "http://"+rd.HTTPAddr+"/metrics", 5*time.Second) }()
	drainBegan := time.Now()
	doneAt, err := waitTerminal(ctx, db, 20*time.Minute, rd.Alive)
	stopScrapes()
	scraped := <-scrapes
	if err != nil {
		return err
	}
	peak, err := rd.PeakRSS()
	if err != nil {
		return err
	}
	endRSS, _ := rd.RSS()
	if counts, err = stateCounts(ctx, db); err != nil {
		return err
	}
	r.Stack.logf("  peak RSS %.1f MiB; drained %d in %.1fs", float64(peak)/mib, queued, doneAt.Sub(drainBegan).Seconds())
	res.metric("peak RSS (VmHWM)", float64(peak)/mib, "MiB")
	res.metric("RSS after start-up", float64(startRSS)/mib, "MiB")
	res.metric("RSS after the backlog", float64(endRSS)/mib, "MiB")
	res.metric("backlog drain time", doneAt.Sub(drainBegan).Seconds(), "s")
	res.metric("operations succeeded", float64(counts["succeeded"]), "operations")
	res.metric("/metrics scrapes", float64(scraped), "scrapes")
	res.target("Peak RSS", "≤ 150 MiB", float64(peak)/mib, 150, "MiB", false)
	if counts["succeeded"] != int64(stored+queued) {
		return fmt.Errorf("after the run: states %v, want %d succeeded", counts, stored+queued)
	}
	return nil
}

// scrapeMetrics GETs url every interval until ctx ends and returns how many
// scrapes succeeded.
func scrapeMetrics(ctx context.Context, url string, every time.Duration) int {
	n := 0
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return n
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			n++
		}
	}
}
