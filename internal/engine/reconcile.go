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
//     Region) as the policy's share of the write budget allows for the time
//     since the previous round, by whichever process.

// Defaults for the reconciliation settings.
const (
	ReconcileIntervalDefault  = 30 * time.Second
	PolicyRetryBackoffDefault = 5 * time.Minute
)

func (e *Engine) reconcileLoop(ctx context.Context) {
	if e.cfg.ReconcileInterval < 0 {
		return
	}
	t := time.NewTicker(e.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
				e.log.WarnContext(ctx, "policy reconciliation", "error", e.red.Text(err.Error()))
			}
		}
	}
}

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
		prev, err := store.MarkPolicyReconciled(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		ev, err := e.evaluate(ctx, e.api, p, others)
		if err != nil {
			return err
		}
		acts, err := store.PolicyActivities(ctx, e.api, p.Name)
		if err != nil {
			return err
		}
		tokens := e.grant(p, prev)
		spent := map[[2]string]int{}
		bg := awssm.WithCaller(ctx, awssm.Caller{Principal: p.Principal(), Background: true})
		for _, s := range ev.selected {
			if len(s.conflicts) > 0 || len(s.drifts) == 0 {
				continue
			}
			id, err := secretid.Parse(s.sec.ARN)
			if err != nil {
				continue
			}
			act := acts[id.Key()]
			if act != nil && len(act.Active) > 0 {
				continue
			}
			if act != nil && act.LastEnded.After(s.sec.ReadAt) {
				// The inventory predates our own last change: look again.
				fresh, ok := e.refresh(bg, s.sec)
				if !ok {
					continue
				}
				res.Refreshed++
				s.sec = fresh
				s.drifts = e.classifyFor(ctx, p, fresh)
				s.ops, s.unfixed = planFor(p, s.drifts)
			}
			if len(s.ops) == 0 {
				continue
			}
			// A failure since the policy last changed waits out the backoff;
			// a change of the policy is a new intent, tried at once.
			if act != nil && act.LastFailed.After(p.UpdatedAt) && time.Since(act.LastFailed) < e.cfg.PolicyRetryBackoff {
				continue
			}
			key := [2]string{s.sec.Account, s.sec.Region}
			if spent[key]+len(s.ops) > tokens {
				res.Deferred++
				continue
			}
			spent[key] += len(s.ops)
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
		}
		return nil
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

// grant is how many operations a round may create per (account, Region):
// the policy's share of the write budget over the time since the previous
// round (at least one, at most two intervals' worth so that a long pause
// does not release a burst).
func (e *Engine) grant(p domain.Policy, prev time.Time) int {
	rate := e.writeRate(p)
	if math.IsInf(rate, 1) {
		return math.MaxInt32
	}
	elapsed := e.cfg.ReconcileInterval
	if !prev.IsZero() {
		elapsed = min(time.Since(prev), 2*e.cfg.ReconcileInterval)
	}
	return max(1, int(rate*elapsed.Seconds()))
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
