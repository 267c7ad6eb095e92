package engine

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/store"
)

// Reconciliation turns an ENFORCE policy's drift into ordinary operations,
// submitted through Submit like an interactive request's: the same
// per-secret ordering, budgets, retries and audit, with principal
// "policy/NAME" and the policy as origin. Their jobs and AWS calls are
// background work: River fetches interactive jobs first, and within each
// rate budget a background call never holds more than one place ahead of
// interactive ones (awssm).
//
// Guarantees:
//   - Never a second operation for the same drift while one is in flight:
//     a unique index allows one active operation per (policy, secret,
//     kind), whichever process or restart tries; a round also skips a
//     secret while any of the policy's operations on it is active.
//   - No decision on stale data: when the policy's last operation on a
//     secret ended after the inventory's reading was sent, the secret is
//     described again (and the inventory updated) before anything else is
//     decided for it.
//   - No flapping: a secret two policies select with different desires is
//     in conflict and left alone by both; what an operation failed to do is
//     not tried again for PolicyRetryBackoff, unless the policy changes.
//   - One process at a time reconciles a policy (a try-lock per policy per
//     round), and a round creates only as many operations per (account,
//     Region) as the policy's share of the write budget has accrued on the
//     policy's budget clock (in the database, shared by every process);
//     rounds are a second apart so that operations are created at the
//     budget's pace rather than in bursts that would queue ahead of
//     interactive work.

// Defaults for the reconciliation settings.
const (
	ReconcileIntervalDefault  = time.Second
	PolicyRetryBackoffDefault = 5 * time.Minute
)

func (e *Engine) reconcileLoop(ctx context.Context) {
	e.repeat(ctx, e.cfg.ReconcileInterval, e.reconcileNow, "policy reconciliation", e.ReconcileOnce)
}

// wakeReconcile asks this process's reconciliation loop for a round now
// (a new intent starts at once rather than up to an interval later); other
// processes see the change at their next tick.
func (e *Engine) wakeReconcile() { nudge(e.reconcileNow) }

// ReconcileOnce runs one reconciliation round over every ENFORCE policy.
func (e *Engine) ReconcileOnce(ctx context.Context) error {
	policies, err := e.allPolicies(ctx, e.api)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range policies {
		if p.Mode != domain.PolicyEnforce {
			continue
		}
		if err := e.reconcilePolicy(ctx, p, policies); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReconcileResult counts what one round did for one policy.
type ReconcileResult struct {
	Submitted, Refreshed, Deferred int
}

func (e *Engine) reconcilePolicy(ctx context.Context, p domain.Policy, all []domain.Policy) error {
	others := make([]domain.Policy, 0, len(all))
	for _, o := range all {
		if o.Name != p.Name {
			others = append(others, o)
		}
	}
	var res ReconcileResult
	err := pgx.BeginFunc(ctx, e.api, func(tx pgx.Tx) error {
		ok, err := store.TryLockPolicyReconcile(ctx, tx, p.Name)
		if err != nil || !ok {
			return err
		}
		clock, now, err := store.MarkPolicyReconciled(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		acts, err := store.PolicyActivities(ctx, e.api, p.Name)
		if err != nil {
			return err
		}
		budget := e.grant(p, clock, now)
		bg := awssm.WithCaller(ctx, awssm.Caller{Principal: p.Principal(), Background: true})
		_, err = e.evaluate(ctx, e.api, p, others, func(s evaluated) error {
			if len(s.conflicts) > 0 || len(s.drifts) == 0 {
				return nil
			}
			id, perr := secretid.Parse(s.sec.ARN)
			if perr != nil {
				// Not an ARN replicad can act on: nothing to submit.
				return nil //nolint:nilerr // skipping the secret is the point
			}
			act := acts[id.Key()]
			if act != nil && len(act.Active) > 0 {
				return nil
			}
			if act != nil && act.LastEnded.After(s.sec.ReadAt) {
				// The inventory predates our own last change: look again.
				fresh, ok := e.refresh(bg, s.sec)
				if !ok {
					return nil
				}
				res.Refreshed++
				s.sec = fresh
				s.drifts = e.classifyFor(ctx, p, fresh)
				s.ops, s.unfixed = planFor(p, s.drifts)
			}
			if len(s.ops) == 0 {
				return nil
			}
			// A failure since the policy last changed waits out the backoff;
			// a change of the policy is a new intent, tried at once.
			if act != nil && act.LastFailed.After(p.UpdatedAt) && time.Since(act.LastFailed) < e.cfg.PolicyRetryBackoff {
				return nil
			}
			if !budget.take([2]string{s.sec.Account, s.sec.Region}, len(s.ops)) {
				res.Deferred++
				return nil
			}
			for _, op := range s.ops {
				sub := Submission{Kind: op.Kind, Secret: id, AWSRegion: s.sec.Region, Replicas: op.Replicas,
					Force: op.Force, Principal: p.Principal(), OriginPolicy: p.Name}
				if _, _, err := e.Submit(ctx, sub); err != nil {
					if errors.Is(err, store.ErrDuplicatePolicyOperation) {
						// Another process or round got there first.
						continue
					}
					return err
				}
				res.Submitted++
			}
			return nil
		})
		if err != nil {
			return err
		}
		return store.SetPolicyBudgetClock(ctx, tx, p.Name, budget.next())
	})
	if err != nil {
		return err
	}
	if res.Submitted+res.Refreshed+res.Deferred > 0 {
		e.log.InfoContext(ctx, "policy reconciled", "policy", p.Name, "submitted", res.Submitted,
			"refreshed", res.Refreshed, "deferred", res.Deferred)
	}
	return nil
}

// grant is what a round may spend of the policy's share of the write
// budget, per (account, Region): what accrued on the policy's budget clock
// since it was last moved, so a fraction of an operation a round could not
// use is carried to the next (with rounds a second apart and a budget of
// 12.5 writes/s, truncating each round's grant would lose 4% of it, and a
// second at 0.5 writes/s would grant nothing). Accrual stops after
// budgetWindow, so a long pause releases no burst.
func (e *Engine) grant(p domain.Policy, clock, now time.Time) *roundBudget {
	b := &roundBudget{rate: e.writeRate(p), clock: clock, now: now, spent: map[[2]string]int{}}
	if math.IsInf(b.rate, 1) || b.rate <= 0 {
		b.rate = math.Inf(1)
		return b
	}
	window := max(2*e.cfg.ReconcileInterval, budgetWindow, time.Duration(2/b.rate*float64(time.Second)))
	if b.clock.IsZero() {
		// The first round: one interval's worth.
		b.clock = now.Add(-e.cfg.ReconcileInterval)
	}
	if now.Sub(b.clock) > window {
		b.clock = now.Add(-window)
	}
	b.avail = b.rate * now.Sub(b.clock).Seconds()
	return b
}

// budgetWindow is the longest time over which an idle policy's budget
// accrues (at least two intervals): long enough that a round delayed by a
// loaded database loses nothing, short enough that a policy created or
// resumed after a pause starts at its rate rather than with a burst.
const budgetWindow = 5 * time.Second

// roundBudget is one round's write budget: avail operations per (account,
// Region), all (account, Region) buckets having accrued over the same
// clock time.
type roundBudget struct {
	rate       float64 // operations/s; +Inf: unbounded
	clock, now time.Time
	avail      float64
	spent      map[[2]string]int
	deferred   bool
}

// take reports whether n more operations on one secret fit the bucket of
// key, and counts them if so. A secret needing more operations than one
// round's budget still goes when it is first in its bucket, the debt
// being paid by the following rounds: otherwise it would never go.
func (b *roundBudget) take(key [2]string, n int) bool {
	if math.IsInf(b.rate, 1) {
		return true
	}
	s := b.spent[key]
	if float64(s+n) <= b.avail+1e-9 || (s == 0 && b.avail >= 1) {
		b.spent[key] = s + n
		return true
	}
	b.deferred = true
	return false
}

// next is the budget clock after the round: moved on by what the busiest
// bucket spent when a bucket had to defer work (the rest of the accrued
// budget, a fraction of an operation, stays for the next round), or to now
// when all the work fitted (unused budget is not banked).
func (b *roundBudget) next() time.Time {
	if math.IsInf(b.rate, 1) {
		return b.now
	}
	busiest := 0
	for _, n := range b.spent {
		busiest = max(busiest, n)
	}
	moved := b.clock.Add(time.Duration(float64(busiest) / b.rate * float64(time.Second)))
	if b.deferred || moved.After(b.now) {
		return moved
	}
	return b.now
}

// refresh describes a secret and records the reading in the inventory,
// keeping what DescribeSecret does not tell (tags, the primary's key).
func (e *Engine) refresh(ctx context.Context, old domain.InventorySecret) (domain.InventorySecret, bool) {
	sent := time.Now()
	sec, err := e.sm.Describe(ctx, old.Region, old.ARN)
	if err != nil {
		e.log.WarnContext(ctx, "policy: describe secret", "secret", e.red.ARN(old.ARN), "error", e.describeErr(err))
		return domain.InventorySecret{}, false
	}
	fresh := old
	fresh.Replicas, fresh.Deleted, fresh.ReadAt, fresh.LastSeen = sec.Replicas, sec.Deleted, sent, sent
	if !sec.LastChanged.IsZero() {
		fresh.LastChanged = sec.LastChanged
	}
	if _, err := e.store.UpsertInventory(ctx, e.api, fresh); err != nil {
		e.log.WarnContext(ctx, "policy: record secret", "secret", e.red.ARN(old.ARN), "error", e.red.Text(err.Error()))
	} else if _, err := e.updateDriftOf(ctx, fresh.ARN); err != nil {
		e.log.WarnContext(ctx, "policy: drift of a refreshed secret", "secret", e.red.ARN(old.ARN), "error", e.red.Text(err.Error()))
	}
	return fresh, true
}
