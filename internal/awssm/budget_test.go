package awssm

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Budgets run on simulated time (testing/synctest): the releases a budget
// allows are exact, whatever the machine is doing.

func releases(t *testing.T, p *pace, callers int) []time.Time {
	t.Helper()
	var (
		mu  sync.Mutex
		out []time.Time
		wg  sync.WaitGroup
	)
	for range callers {
		wg.Go(func() {
			if err := p.wait(context.Background()); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			out = append(out, time.Now())
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

func TestBudgetSpacesReleases(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newBudgets(10, 100, 5)
		start := time.Now()
		got := releases(t, b.limiter("", "us-east-1", bucketWrite), 30)
		rate := 10 * JitterHeadroom
		interval := time.Duration(float64(time.Second) / rate)
		for i := 1; i < len(got); i++ {
			if gap := got[i].Sub(got[i-1]); gap < interval {
				t.Fatalf("releases %d and %d are %s apart, under the %s the budget allows", i-1, i, gap, interval)
			}
		}
		// 30 requests at 9.7/s: the first at once, the last 29 intervals on.
		if took, want := got[len(got)-1].Sub(start), 29*interval; took > want+time.Millisecond {
			t.Errorf("30 releases took %s, want %s: the budget is wasted", took, want)
		}
		// In no window of one second are there more than the budget.
		for i := range got {
			n := 0
			for j := i; j < len(got) && got[j].Sub(got[i]) < time.Second; j++ {
				n++
			}
			if n > 10 {
				t.Fatalf("%d releases in the second after release %d, budget 10", n, i)
			}
		}
	})
}

// lateReleases has n requests ask p in turn (request i has place i) and
// be released, request i's wake-up from the bucket coming late(i) late, as
// a loaded machine's timers do; it returns the release times in order.
func lateReleases(t *testing.T, p *pace, n int, late func(i int) time.Duration) []time.Time {
	t.Helper()
	got := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := p.lim.Wait(context.Background()); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(late(i)) // simulated
			if err := p.release(context.Background()); err != nil {
				t.Error(err)
				return
			}
			got[i] = time.Now()
		})
		synctest.Wait() // request i waits in the bucket before i+1 asks
	}
	wg.Wait()
	slices.SortFunc(got, func(a, b time.Time) int { return a.Compare(b) })
	return got
}

// Requests whose wake-ups come late (a loaded machine, a GC pause) must
// not push back every request after them: the bucket's schedule stands.
// Here every timer fires late, the bucket's by up to 30% of an interval
// and the guard's own by 10%. An earlier guard spaced each release a full
// interval after the previous one as it happened, so once one release was
// late every later one waited on the guard's late timer, adding 10% of an
// interval per request: 100 releases ended 8.9 intervals late.
func TestLateReleasesDoNotDelayTheRest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const n = 100
		p := newBudgets(10, 100, 5).limiter("", "us-east-1", bucketWrite)
		interval := time.Duration(float64(time.Second) / float64(p.lim.Limit()))
		p.oversleep = interval / 10
		start := time.Now()
		got := lateReleases(t, p, n, func(i int) time.Duration {
			return time.Duration((i*37)%10) * interval * 3 / 100
		})
		ideal := time.Duration(n-1) * interval
		if took := got[n-1].Sub(start); took > ideal+3*interval {
			t.Errorf("%d releases took %s, %.1f intervals over the %s of the bucket's schedule: late releases pushed the rest back", n, took, float64(took-ideal)/float64(interval), ideal)
		}
		for i := 1; i < n; i++ {
			if gap := got[i].Sub(got[i-1]); gap < interval/2 {
				t.Errorf("releases %d and %d are %s apart, under half the %s interval", i-1, i, gap, interval)
			}
		}
	})
}

// However the bucket bunches its releases, no one-second window holds more
// than its share of the budget, with the headroom to spare: here every
// request's wake-up is late by a different amount, as on a loaded machine,
// and any 6 releases must still span 5 intervals (1.03 s), so that the
// network delaying the first of them less than the last cannot put 6 in
// one second at the receiving end.
func TestBunchedReleasesKeepTheWindow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const n, budget = 60, 5
		p := newBudgets(budget, 100, 5).limiter("", "us-east-1", bucketWrite) // 4.85/s
		interval := time.Duration(float64(time.Second) / float64(p.lim.Limit()))
		got := lateReleases(t, p, n, func(i int) time.Duration {
			return time.Duration((i*7)%10) * interval / 10
		})
		for i := 0; i+budget < n; i++ {
			if span := got[i+budget].Sub(got[i]); span < budget*interval-time.Microsecond {
				t.Fatalf("releases %d to %d span %s, under %d intervals (%s): the receiving end could see %d in one second",
					i, i+budget, span, budget, budget*interval, budget+1)
			}
		}
	})
}

func TestBudgetsAreSeparatePerAccountRegionAndBucket(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newBudgets(1, 1, 1)
		keys := []struct {
			account, region string
			bk              bucket
		}{
			{"", "us-east-1", bucketWrite}, {"", "us-east-1", bucketRead}, {"", "eu-west-1", bucketWrite}, {"111122223333", "us-east-1", bucketWrite},
		}
		start := time.Now()
		for _, k := range keys {
			// The first request of each budget goes at once; a shared
			// budget would make the later ones wait a second each.
			if err := b.limiter(k.account, k.region, k.bk).wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("four first requests in four budgets took %s", took)
		}
		first, again := b.limiter("", "us-east-1", bucketWrite), b.limiter("", "us-east-1", bucketWrite)
		if first != again {
			t.Error("one key must give one budget")
		}
	})
}

func TestBudgetShareSplitsTheRate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newBudgets(10, 10, 10)
		p := b.limiter("", "us-east-1", bucketWrite)
		b.setShare(2)
		got := releases(t, p, 11)
		// Five per second each for two processes: ten releases take two
		// seconds, not one.
		if took := got[len(got)-1].Sub(got[0]); took < 2*time.Second {
			t.Errorf("11 releases at half of 10/s took %s, want at least 2s", took)
		}
		b.setShare(0) // nonsense: treated as alone
		if l := p.lim.Limit(); float64(l) != 10*JitterHeadroom {
			t.Errorf("share 0 gives a limit of %v", l)
		}
	})
}

func TestBudgetWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newBudgets(1, 1, 1).limiter("", "us-east-1", bucketWrite)
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		// The limiter refuses at once a wait it knows would outlast the
		// deadline; either way the request is not sent.
		if err := p.wait(ctx); err == nil {
			t.Error("a wait beyond its context's deadline returned a token")
		}
	})
}

func TestNegativeBudgetIsUnlimited(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newBudgets(-1, -1, -1).limiter("", "us-east-1", bucketWrite)
		start := time.Now()
		releases(t, p, 100)
		if took := time.Since(start); took != 0 {
			t.Errorf("an unlimited budget made 100 requests wait %s", took)
		}
	})
}

// TestBackgroundYieldsToInteractive: with a backlog of background
// (policy) requests waiting on a budget, an interactive request is
// released within two intervals of its arrival — at most one background
// request goes before it — not behind the backlog; the backlog still
// drains at the full rate when nothing else waits.
func TestBackgroundYieldsToInteractive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newBudgets(10, 100, 5)
		p := b.limiter("", "us-east-1", bucketWrite)
		rate := 10 * JitterHeadroom
		interval := time.Duration(float64(time.Second) / rate)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bgDone []time.Time
		start := time.Now()
		for range 40 {
			wg.Go(func() {
				if err := p.waitBackground(context.Background()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				bgDone = append(bgDone, time.Now())
				mu.Unlock()
			})
		}
		time.Sleep(time.Second)
		arrived := time.Now()
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(arrived); waited > 2*interval {
			t.Errorf("interactive request waited %s behind a background backlog, want at most %s", waited, 2*interval)
		}
		wg.Wait()
		// 41 releases in all at the budget's spacing: nothing wasted.
		if took, want := bgDone[len(bgDone)-1].Sub(start), 40*interval; took > want+time.Millisecond {
			t.Errorf("the backlog drained in %s, want %s", took, want)
		}
	})
}

// A caller that would wait long is sent away until its place in line
// comes, keeps that place when it comes back early, and later callers
// line up behind it: their places are one interval apart, so callers that
// come back when told arrive at the budget's pace.
func TestBudgetBooksPlacesInLine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newBudgets(10, 100, 10).limiter("acct", "us-west-2", bucketWrite) // 9.7/s: interval ~103 ms
		interval := time.Duration(float64(time.Second) / float64(p.lim.Limit()))
		const maxWait = 300 * time.Millisecond
		if d := p.book("idle", maxWait, false); d != 0 {
			t.Fatalf("an idle budget sent the caller away for %s", d)
		}
		p.waiting.Add(5) // five requests waiting: about 515 ms
		a := p.book("a", maxWait, false)
		if want := 5*interval - maxWait/2; a < want-time.Millisecond || a > want+time.Millisecond {
			t.Fatalf("first caller sent away for %s, want %s", a, want)
		}
		b := p.book("b", maxWait, false)
		if d := b - a; d < interval-time.Millisecond || d > interval+time.Millisecond {
			t.Errorf("second caller's place %s after the first's, want one interval %s", d, interval)
		}
		if again := p.book("a", maxWait, false); again != a {
			t.Errorf("the first caller asking again at once is sent away for %s, want its place's %s", again, a)
		}
		time.Sleep(a) // simulated: its place is now maxWait/2 from being sent
		if d := p.book("a", maxWait, false); d != 0 {
			t.Errorf("the first caller back on time sent away again for %s", d)
		}
		if _, ok := p.places["a"]; ok {
			t.Error("a place used is kept")
		}
	})
}

// An interactive caller's place is booked behind the interactive requests
// only, not behind a background backlog it will be sent ahead of, and each
// one pushes the background line back by one interval.
func TestBudgetBooksInteractivePlacesAheadOfBackground(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newBudgets(10, 100, 10).limiter("acct", "us-west-2", bucketWrite)
		interval := time.Duration(float64(time.Second) / float64(p.lim.Limit()))
		const maxWait = 300 * time.Millisecond
		near := func(got, want time.Duration) bool {
			return got > want-time.Millisecond && got < want+time.Millisecond
		}
		// 20 background requests waiting (one of them inside the bucket)
		// and 4 interactive ones.
		p.waiting.Add(24)
		p.waitingBg.Add(20)
		bg := p.book("bg-1", maxWait, true)
		if want := 24*interval - maxWait/2; !near(bg, want) {
			t.Fatalf("background caller sent away for %s, want %s (behind all 24 waiting)", bg, want)
		}
		fg := p.book("fg-1", maxWait, false)
		if want := 5*interval - maxWait/2; !near(fg, want) {
			t.Errorf("interactive caller sent away for %s, want %s (behind the 4 interactive and the one background request in the bucket)", fg, want)
		}
		if fg2 := p.book("fg-2", maxWait, false); !near(fg2-fg, interval) {
			t.Errorf("second interactive place %s after the first's, want one interval", fg2-fg)
		}
		// bg-1's place was at 24 intervals, and two interactive places were
		// booked ahead of the line since: the next background place is 27.
		if bg2 := p.book("bg-2", maxWait, true); !near(bg2-bg, 3*interval) {
			t.Errorf("next background place %s after the first's, want three intervals (its own and two interactive)", bg2-bg)
		}
	})
}
