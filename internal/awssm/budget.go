package awssm

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// bucket is an AWS request-rate bucket.
type bucket int

const (
	bucketWrite bucket = iota
	bucketRead
	// bucketScan paces the inventory scanner on its own (ListSecrets, and
	// its DescribeSecret calls): a scan must never slow the
	// DescribeSecret calls operations wait on.
	bucketScan
)

// writeAPIs share AWS's per-Region, per-account bucket of 50 requests/s.
var writeAPIs = map[string]bool{
	"ReplicateSecretToRegions":     true,
	"RemoveRegionsFromReplication": true,
	"StopReplicationToReplica":     true,
	"PutSecretValue":               true,
	"UpdateSecret":                 true,
}

func bucketOf(api string) bucket {
	switch {
	case writeAPIs[api]:
		return bucketWrite
	case api == "ListSecrets":
		return bucketScan
	}
	return bucketRead
}

// JitterHeadroom keeps the limiter slightly under the budget (3%: about
// 30 ms of slack over any second's worth of requests): requests are
// spaced by the limiter but arrive with network jitter, and a budget must
// hold where it is measured, at the receiving end.
const JitterHeadroom = 0.97

type budgetKey struct {
	account, region string
	bucket          bucket
}

// pace is one budget: a token bucket that orders and spaces the requests,
// and a guard that keeps the budget as requests are actually released.
//
// The bucket hands out send times one interval apart, fixed when each
// request asks, but a waiter whose timer fires late (a loaded machine, a GC
// pause) is then followed closely by one that wakes on time. The guard
// bounds what that can do: at most perWindow releases in any window of
// perWindow intervals (at least a second: the stand-in's reading of an AWS
// quota, the strictest one AWS's documentation leaves open, with the
// headroom kept; see tryRelease), and never two releases closer than half
// an interval. It measures from the releases as they happened, but against
// the bucket's schedule rather than the late release: an earlier guard
// that spaced every release a full interval after the previous actual one
// added each late timer's delay to every request after it, about 0.7 ms a
// release on a quiet machine and 3 ms on a busy one (3-13% of a 45/s
// budget), which a drain of thousands of writes spent standing idle.
type pace struct {
	lim *rate.Limiter

	mu sync.Mutex // guards perWindow and recent
	// perWindow is the most releases in any window (budgets.perWindow,
	// tryRelease).
	perWindow int
	// recent are the release times of the last window, oldest first.
	recent []time.Time
	// oversleep, in tests only, is how late the guard's own timer fires:
	// a loaded machine's timers fire late, and a guard that counted from
	// the late release would add that to every request after it.
	oversleep time.Duration

	// bg admits one background request at a time to the bucket. The
	// bucket hands out send times in arrival order, so a backlog of
	// background requests inside it would queue every later interactive
	// request behind the whole backlog; with at most one of them inside,
	// an interactive request waits at most one interval longer than it
	// would on an idle budget, and background requests take what the
	// interactive ones leave.
	bg chan struct{}

	// waiting counts the requests waiting for this budget, and waitingBg
	// the background ones among them.
	waiting, waitingBg atomic.Int64

	// places are the places in line book handed out, by caller. booked is
	// the end of the interactive callers' line and bookedBg that of the
	// background callers', which is behind it: an interactive caller is
	// sent ahead of every background request when it comes back (wait
	// versus waitBackground), so its place is booked ahead of theirs too.
	bookMu           sync.Mutex
	places           map[string]time.Time
	booked, bookedBg time.Time
}

// book is for a caller that would rather not wait long for this budget
// (a worker, which can hand the wait back to its queue). If a request sent
// now would wait at most maxWait, it returns 0 and the caller sends. Else
// it books key (the caller) a place in line after the requests waiting and
// the places booked before, and returns how long the caller should go
// away: until its place is half of maxWait from being sent. A caller that
// comes back with its key before its place is sent away again until then.
// A place is only a pacing hint: nothing is reserved in the bucket, and a
// caller that never comes back costs nobody anything once its time passed.
//
// A background caller's place is behind everything waiting or booked; an
// interactive caller's is behind the interactive requests only (and the
// one background request the bucket may hold), and pushes the background
// line back by one interval.
func (p *pace) book(key string, maxWait time.Duration, background bool) time.Duration {
	limit := p.lim.Limit()
	if limit == rate.Inf || limit <= 0 {
		return 0
	}
	interval := time.Duration(float64(time.Second) / float64(limit))
	p.bookMu.Lock()
	defer p.bookMu.Unlock()
	now := time.Now()
	if at, ok := p.places[key]; ok {
		if at.Sub(now) <= maxWait {
			delete(p.places, key)
			return 0
		}
		return at.Sub(now) - maxWait/2
	}
	at := now.Add(p.backlog(background))
	if p.booked.After(at) {
		at = p.booked
	}
	if background && p.bookedBg.After(at) {
		at = p.bookedBg
	}
	if at.Sub(now) <= maxWait {
		return 0
	}
	if p.places == nil {
		p.places = map[string]time.Time{}
	}
	for k, t := range p.places {
		if now.Sub(t) > time.Minute {
			delete(p.places, k) // its caller never came back
		}
	}
	p.places[key] = at
	switch {
	case background:
		p.bookedBg = at.Add(interval)
	default:
		p.booked = at.Add(interval)
		if p.bookedBg.After(at) {
			p.bookedBg = p.bookedBg.Add(interval)
		}
	}
	return at.Sub(now) - maxWait/2
}

// backlog estimates how long a request asking now would wait: one
// interval per request ahead of it. Ahead of a background request is
// everything waiting; ahead of an interactive one are the interactive
// requests and at most one background request, the one the bucket holds.
func (p *pace) backlog(background bool) time.Duration {
	limit := p.lim.Limit()
	if limit == rate.Inf || limit <= 0 {
		return 0
	}
	ahead := p.waiting.Load()
	if !background {
		ahead -= max(p.waitingBg.Load()-1, 0)
	}
	return time.Duration(float64(ahead) / float64(limit) * float64(time.Second))
}

// waitBackground is wait for a background request: it first waits its turn
// among background requests, so it never holds more than one place in the
// bucket ahead of interactive ones.
func (p *pace) waitBackground(ctx context.Context) error {
	p.waiting.Add(1)
	p.waitingBg.Add(1)
	defer p.waiting.Add(-1)
	defer p.waitingBg.Add(-1)
	select {
	case p.bg <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.bg }()
	return p.waitTurn(ctx)
}

// wait blocks until a request may be sent, or ctx ends.
func (p *pace) wait(ctx context.Context) error {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	return p.waitTurn(ctx)
}

func (p *pace) waitTurn(ctx context.Context) error {
	if err := p.lim.Wait(ctx); err != nil {
		return err
	}
	return p.release(ctx)
}

// release is the guard: it returns once a request the bucket let go may
// be sent without breaking the window or the half-interval gap.
func (p *pace) release(ctx context.Context) error {
	limit := p.lim.Limit()
	if limit == rate.Inf || limit <= 0 {
		return nil
	}
	interval := float64(time.Second) / float64(limit)
	for {
		wait := p.tryRelease(interval)
		if wait <= 0 {
			return nil
		}
		// The guard is not held while waiting: whoever comes back first
		// and finds the window open goes.
		t := time.NewTimer(wait + p.oversleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// tryRelease records a release now and returns 0 if the window and the
// gap allow one, or else how long to wait before asking again.
func (p *pace) tryRelease(interval float64) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The window is as long as perWindow intervals of the bucket's own
	// spacing (at least a second): the bucket on time is never held back,
	// and perWindow+1 releases always span more than a second by the
	// headroom, so a budget read at the receiving end still holds when
	// the network delays one request more than the next. A window of
	// exactly one second let a scan at 10 reads/s land 11 in one second at
	// the stand-in.
	window := max(time.Second, time.Duration(float64(p.perWindow)*interval))
	now := time.Now()
	drop := 0
	for drop < len(p.recent) && now.Sub(p.recent[drop]) >= window {
		drop++
	}
	p.recent = append(p.recent[:0], p.recent[drop:]...)
	var wait time.Duration
	if n := len(p.recent); n > 0 {
		wait = p.recent[n-1].Add(time.Duration(interval / 2)).Sub(now)
		if n >= p.perWindow {
			wait = max(wait, p.recent[n-p.perWindow].Add(window).Sub(now))
		}
	}
	if wait > 0 {
		return wait
	}
	p.recent = append(p.recent, now)
	return 0
}

// budgets holds one token bucket per (account, Region, bucket). A burst of
// one spaces requests evenly: 10,000 queued operations drain at the budget
// rather than arriving together and being throttled.
type budgets struct {
	write, read, scan float64
	mu                sync.Mutex
	limiters          map[budgetKey]*pace
	// share is how many processes split the budgets (at least 1).
	share int
}

func newBudgets(write, read, scan float64) *budgets {
	return &budgets{write: write, read: read, scan: scan, limiters: map[budgetKey]*pace{}, share: 1}
}

// rate is a bucket's budget for the whole deployment (negative:
// unlimited).
func (b *budgets) rate(bk bucket) float64 {
	switch bk {
	case bucketRead:
		return b.read
	case bucketScan:
		return b.scan
	}
	return b.write
}

// limit is this process's rate for a bucket: its share of the budget.
func (b *budgets) limit(bk bucket) rate.Limit {
	r := b.rate(bk)
	if r < 0 {
		return rate.Inf // negative budget: unlimited
	}
	return rate.Limit(r * JitterHeadroom / float64(b.share))
}

// perWindow is the most requests of a bucket this process releases in any
// window (pace.tryRelease): as many as the bucket's own spacing puts in a
// second (its rate with JitterHeadroom, rounded up), so the guard keeps the
// headroom where releases bunch, and never more than its share of the
// budget rounded down; at least 1.
func (b *budgets) perWindow(bk bucket) int {
	share := b.rate(bk) / float64(b.share)
	return max(1, min(int(math.Ceil(share*JitterHeadroom)), int(math.Floor(share))))
}

// setLimit changes the bucket's rate and the guard's window together.
func (p *pace) setLimit(l rate.Limit, perWindow int) {
	p.lim.SetLimit(l)
	p.mu.Lock()
	p.perWindow = perWindow
	p.mu.Unlock()
}

// setShare splits the budgets between n processes from now on.
func (b *budgets) setShare(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 1 {
		n = 1
	}
	if n == b.share {
		return
	}
	b.share = n
	for k, p := range b.limiters {
		p.setLimit(b.limit(k.bucket), b.perWindow(k.bucket))
	}
}

func (b *budgets) limiter(account, region string, bk bucket) *pace {
	k := budgetKey{account, region, bk}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.limiters[k]; ok {
		return p
	}
	p := &pace{lim: rate.NewLimiter(b.limit(bk), 1), perWindow: b.perWindow(bk), bg: make(chan struct{}, 1)}
	b.limiters[k] = p
	return p
}
