package engine

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// Waiting for AWS to replicate costs no worker: after its mutating call an
// operation looks at DescribeSecret once, saves what it saw and snoozes its
// job (River's JobSnooze) until the next look, instead of polling inside one
// execution. We chose snoozes over a per-process poller because the job row
// already is the durable record of "this operation waits, look again at T":
// a process that dies mid-wait loses nothing (its snoozed jobs are fetched
// by any other process when due, a job it was executing is rescued), and no
// second in-memory owner of the wait has to be reconciled with the queue on
// crash. Short snoozes (under River's scheduler interval) go straight back
// to `available` with a future scheduled_at, so a re-poll costs one fetch,
// one DescribeSecret and one job update; the operation row is written only
// when AWS reported a change, which is what GetOperation and `replictl
// --wait` show (InProgress, then InSync/Failed).
//
// The look interval backs off with the time since the operation started
// (a quarter of it, between PollInitial and PollMax) and is stretched so that
// the waits this process is tracking in one (account, Region) poll at no
// more than WaitReadRate per second there, leaving the rest of that read
// budget (awssm's, also per (account, Region)) to first looks and Status.
// Waits in other Regions do not slow each other down.

// waiters tracks, in memory, when each operation this process snoozed will
// look again. It only paces reads; the durable state is the job's schedule.
type waiters struct {
	mu   sync.Mutex
	next map[uuid.UUID]wait
}

// wait is when one operation looks next, and the read budget it looks in.
type wait struct {
	at     time.Time
	budget string
}

func newWaiters() *waiters { return &waiters{next: map[uuid.UUID]wait{}} }

// staleAfter drops operations that stopped looking here (finished
// elsewhere, or picked up by another process) from the count.
const staleAfter = 30 * time.Second

// delay returns how long the operation should snooze before its next look,
// and records it as waiting on budget (its (account, Region)).
func (w *waiters) delay(id uuid.UUID, budget string, now, started time.Time, initial, maxDelay time.Duration, readRate float64) time.Duration {
	d := min(max(now.Sub(started)/4, initial), maxDelay)
	w.mu.Lock()
	defer w.mu.Unlock()
	same := 1 // this one
	for k, wt := range w.next {
		switch {
		case now.Sub(wt.at) > staleAfter:
			delete(w.next, k)
		case wt.budget == budget && k != id:
			same++
		}
	}
	if readRate > 0 {
		// n waits looking every d make n/d reads per second.
		if pace := time.Duration(float64(same) / readRate * float64(time.Second)); pace > d {
			d = pace
		}
	}
	w.next[id] = wait{at: now.Add(d), budget: budget}
	return d
}

// done forgets an operation that finished.
func (w *waiters) done(id uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.next, id)
}

// count is how many operations this process has waiting.
func (w *waiters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.next)
}
