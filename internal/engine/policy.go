package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/drift"
	"github.com/replicad/replicad/store"
)

// Policy errors callers map to API errors.
var (
	ErrPolicyNotFound = store.ErrPolicyNotFound
	ErrPolicyExists   = store.ErrPolicyExists
	ErrPolicyETag     = store.ErrPolicyETag
)

// PolicyOverlapError refuses a policy write: the policy selects secrets
// that other policies select with different desires.
type PolicyOverlapError struct {
	// Policies are the other policies, by name.
	Policies []string
	// Secrets is how many inventory secrets both select.
	Secrets int
}

func (e *PolicyOverlapError) Error() string {
	return fmt.Sprintf("the policy selects %d secret(s) that %s also select(s) with different desires",
		e.Secrets, strings.Join(e.Policies, ", "))
}

// inventoryPage is how many inventory rows one query reads while
// evaluating a policy.
const inventoryPage = 1000

// CreatePolicy stores p (or, validateOnly, only checks it) after refusing
// overlaps with other policies, under the policies' lock so two
// overlapping writes cannot both commit.
func (e *Engine) CreatePolicy(ctx context.Context, p domain.Policy, validateOnly bool) (domain.Policy, error) {
	p.ETag = newETag()
	if err := e.checkPolicyKeys(ctx, p); err != nil {
		return domain.Policy{}, err
	}
	err := pgx.BeginFunc(ctx, e.api, func(tx pgx.Tx) error {
		if err := store.LockPolicies(ctx, tx); err != nil {
			return err
		}
		if _, err := e.store.GetPolicy(ctx, tx, p.Name); err == nil {
			return ErrPolicyExists
		} else if !errors.Is(err, store.ErrPolicyNotFound) {
			return err
		}
		if err := e.checkOverlap(ctx, tx, p); err != nil {
			return err
		}
		if validateOnly {
			p.CreatedAt, p.UpdatedAt = time.Now(), time.Now()
			return nil
		}
		return e.store.InsertPolicy(ctx, tx, &p)
	})
	if err != nil {
		return domain.Policy{}, err
	}
	if !validateOnly {
		e.driftAfterPolicyChange()
		e.wakeReconcile()
	}
	return p, nil
}

// UpdatePolicy replaces the stored policy named p.Name. A non-empty p.ETag
// must be the stored etag (AIP-154).
func (e *Engine) UpdatePolicy(ctx context.Context, p domain.Policy, validateOnly bool) (domain.Policy, error) {
	if err := e.checkPolicyKeys(ctx, p); err != nil {
		return domain.Policy{}, err
	}
	err := pgx.BeginFunc(ctx, e.api, func(tx pgx.Tx) error {
		if err := store.LockPolicies(ctx, tx); err != nil {
			return err
		}
		cur, err := e.store.GetPolicy(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		if p.ETag != "" && p.ETag != cur.ETag {
			return ErrPolicyETag
		}
		if err := e.checkOverlap(ctx, tx, p); err != nil {
			return err
		}
		if validateOnly {
			p.ETag, p.CreatedAt, p.UpdatedAt = cur.ETag, cur.CreatedAt, time.Now()
			return nil
		}
		p.ETag = newETag()
		return e.store.UpdatePolicy(ctx, tx, &p, cur.ETag)
	})
	if err != nil {
		return domain.Policy{}, err
	}
	if !validateOnly {
		e.driftAfterPolicyChange()
		e.wakeReconcile()
	}
	return p, nil
}

// DeletePolicy deletes a policy; a non-empty etag must match. Its
// operations already accepted run to their end.
func (e *Engine) DeletePolicy(ctx context.Context, name, etag string) (domain.Policy, error) {
	p, err := e.store.DeletePolicy(ctx, e.api, name, etag)
	if err == nil {
		e.driftAfterPolicyChange()
	}
	return p, err
}

// GetPolicy returns one policy.
func (e *Engine) GetPolicy(ctx context.Context, name string) (domain.Policy, error) {
	return e.store.GetPolicy(ctx, e.api, name)
}

// ListPolicies returns up to limit policies named after `after`, by name.
func (e *Engine) ListPolicies(ctx context.Context, after string, limit int) ([]domain.Policy, error) {
	return e.store.ListPolicies(ctx, e.api, after, limit)
}

func (e *Engine) allPolicies(ctx context.Context, db store.DB) ([]domain.Policy, error) {
	var out []domain.Policy
	after := ""
	for {
		page, err := e.store.ListPolicies(ctx, db, after, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 500 {
			return out, nil
		}
		after = page[len(page)-1].Name
	}
}

func (e *Engine) othersThan(ctx context.Context, db store.DB, name string) ([]domain.Policy, error) {
	all, err := e.allPolicies(ctx, db)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(p domain.Policy) bool { return p.Name == name }), nil
}

// checkOverlap refuses p if a secret of the inventory is selected by p and
// by another policy that wants something else of it.
func (e *Engine) checkOverlap(ctx context.Context, db store.DB, p domain.Policy) error {
	others, err := e.othersThan(ctx, db, p.Name)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	n := 0
	_, err = e.evaluate(ctx, db, p, others, func(s evaluated) error {
		if len(s.conflicts) > 0 {
			n++
			for _, c := range s.conflicts {
				names[c] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	oe := &PolicyOverlapError{Secrets: n}
	for c := range names {
		oe.Policies = append(oe.Policies, c)
	}
	slices.Sort(oe.Policies)
	return oe
}

// evaluated is one selected secret measured against its policy.
type evaluated struct {
	sec       domain.InventorySecret
	drifts    []drift.Drift
	ops       []drift.Op
	unfixed   bool
	conflicts []string
}

type evaluation struct {
	// globs are the include globs; globHits counts, per glob, the
	// inventory secrets it matched.
	globs    []drift.Glob
	globHits []int
}

type compiledPolicy struct {
	name string
	sel  drift.Selector
}

// evaluate reads the inventory and classifies every secret p selects,
// handing each to visit as its page is read (a page at a time in memory,
// whatever the inventory's size: holding 100,000 evaluated secrets took
// hundreds of MiB); a secret another policy also selects with different
// desires is marked in conflict with it. An error from visit stops it.
func (e *Engine) evaluate(ctx context.Context, db store.DB, p domain.Policy, others []domain.Policy, visit func(evaluated) error) (evaluation, error) {
	sel, err := drift.CompileSelector(p.Selector)
	if err != nil {
		return evaluation{}, fmt.Errorf("policy %s: %w", p.Name, err)
	}
	var rivals []compiledPolicy
	for _, o := range others {
		if drift.SameDesires(p, o) {
			continue
		}
		os, err := drift.CompileSelector(o.Selector)
		if err != nil {
			return evaluation{}, fmt.Errorf("policy %s: %w", o.Name, err)
		}
		rivals = append(rivals, compiledPolicy{o.Name, os})
	}
	// Narrow the read where the selector allows; the selector decides.
	var f domain.InventoryFilter
	if len(p.Selector.Accounts) == 1 {
		f.Account = p.Selector.Accounts[0]
	}
	for k, v := range p.Selector.Tags {
		f.TagKey, f.TagValue = k, v
		break
	}
	ev := evaluation{globs: sel.Globs(), globHits: make([]int, len(sel.Globs()))}
	var cursor *store.InventoryCursor
	for {
		rows, next, err := e.store.ListInventory(ctx, db, f, cursor, inventoryPage)
		if err != nil {
			return evaluation{}, err
		}
		for _, sec := range rows {
			for i, g := range sel.Globs() {
				if g.Match(sec.Name) {
					ev.globHits[i]++
				}
			}
			if !sel.Matches(sec) {
				continue
			}
			es := evaluated{sec: sec}
			for _, r := range rivals {
				if r.sel.Matches(sec) {
					es.conflicts = append(es.conflicts, r.name)
				}
			}
			es.drifts = e.classifyFor(ctx, p, sec)
			es.ops, es.unfixed = drift.Plan(p, es.drifts)
			if err := visit(es); err != nil {
				return evaluation{}, err
			}
		}
		if next == nil {
			return ev, nil
		}
		cursor = next
	}
}

// writeRate is the policy's share of one (account, Region) write budget,
// in calls per second (+Inf when the budget is unbounded).
func (e *Engine) writeRate(p domain.Policy) float64 {
	share := p.WriteBudgetShare
	if share <= 0 || share > 1 {
		share = domain.DefaultWriteBudgetShare
	}
	if e.cfg.WriteRate < 0 {
		return math.Inf(1)
	}
	return e.cfg.WriteRate * share
}

// eta is the time the writes need at rate, the busiest (account, Region)
// deciding: budgets are per (account, Region), so they drain in parallel.
func eta(writes map[[2]string]int, rate float64) time.Duration {
	busiest := 0
	for _, n := range writes {
		busiest = max(busiest, n)
	}
	if busiest == 0 || math.IsInf(rate, 1) || rate <= 0 {
		return 0
	}
	return time.Duration(float64(busiest) / rate * float64(time.Second))
}

func writeCalls(ops []drift.Op) int { return len(ops) } // one AWS write per operation

func (e *Engine) findings(ds []drift.Drift) []domain.DriftFinding {
	out := make([]domain.DriftFinding, 0, len(ds))
	for _, d := range ds {
		out = append(out, domain.DriftFinding{Kind: string(d.Kind), Region: d.Region, Message: e.red.Text(d.Message)})
	}
	return out
}

// PlanPolicy says what p would do now, changing nothing: the secrets it
// selects, the operations reconciliation would create (whatever p's mode),
// and how long they would take at p's share of the write budget. At most
// maxSecrets secrets are listed; the counts cover all.
func (e *Engine) PlanPolicy(ctx context.Context, p domain.Policy, maxSecrets int) (domain.PolicyPlan, error) {
	if err := e.checkPolicyKeys(ctx, p); err != nil {
		return domain.PolicyPlan{}, err
	}
	others, err := e.othersThan(ctx, e.api, p.Name)
	if err != nil {
		return domain.PolicyPlan{}, err
	}
	plan := domain.PolicyPlan{DriftCounts: map[string]int{}}
	writes := map[[2]string]int{}
	ev, err := e.evaluate(ctx, e.api, p, others, func(s evaluated) error {
		plan.Selected++
		ps := domain.PlannedSecret{ARN: e.red.ARN(s.sec.ARN), Name: s.sec.Name, PrimaryRegion: s.sec.Region,
			Drifts: e.findings(s.drifts), ConflictsWith: s.conflicts, InConflict: len(s.conflicts) > 0}
		countKinds(plan.DriftCounts, s.drifts)
		switch {
		case ps.InConflict:
			plan.InConflict++
		case len(s.drifts) == 0:
			plan.Compliant++
			return nil
		default:
			for _, op := range s.ops {
				ps.Operations = append(ps.Operations, domain.PlannedOperation{Kind: op.Kind, Replicas: op.Replicas, Force: op.Force})
			}
			plan.OperationCount += len(s.ops)
			plan.WriteCalls += writeCalls(s.ops)
			writes[[2]string{s.sec.Account, s.sec.Region}] += writeCalls(s.ops)
		}
		if len(plan.Secrets) < maxSecrets {
			plan.Secrets = append(plan.Secrets, ps)
		}
		return nil
	})
	if err != nil {
		return domain.PolicyPlan{}, err
	}
	plan.ETA = eta(writes, e.writeRate(p))
	for i, g := range ev.globs {
		if ev.globHits[i] == 0 {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("name glob %q matches no secret in the inventory", g.String()))
		}
	}
	if plan.Selected == 0 {
		plan.Warnings = append(plan.Warnings, "the selector matches no secret in the inventory")
	}
	if p.Mode == domain.PolicyReport && plan.OperationCount > 0 {
		plan.Warnings = append(plan.Warnings, "mode REPORT: these operations would run only in ENFORCE mode")
	}
	return plan, nil
}

// countKinds counts a secret once per kind of drift it has.
func countKinds(counts map[string]int, ds []drift.Drift) {
	seen := map[drift.Kind]bool{}
	for _, d := range ds {
		if !seen[d.Kind] {
			seen[d.Kind] = true
			counts[string(d.Kind)]++
		}
	}
}

// PolicyStatus reports a stored policy's progress towards compliance.
func (e *Engine) PolicyStatus(ctx context.Context, name string) (domain.PolicyStatus, error) {
	p, err := e.store.GetPolicy(ctx, e.api, name)
	if err != nil {
		return domain.PolicyStatus{}, err
	}
	others, err := e.othersThan(ctx, e.api, name)
	if err != nil {
		return domain.PolicyStatus{}, err
	}
	readAt := time.Now()
	st := domain.PolicyStatus{Policy: p, Drifted: map[string]int{}, ReadAt: readAt}
	writes := map[[2]string]int{}
	_, err = e.evaluate(ctx, e.api, p, others, func(s evaluated) error {
		st.Selected++
		countKinds(st.Drifted, s.drifts)
		switch {
		case len(s.conflicts) > 0:
			st.InConflict++
		case len(s.drifts) == 0:
			st.Compliant++
		default:
			if s.unfixed {
				st.Unfixable++
			}
			writes[[2]string{s.sec.Account, s.sec.Region}] += writeCalls(s.ops)
		}
		return nil
	})
	if err != nil {
		return domain.PolicyStatus{}, err
	}
	if st.Operations, err = store.PolicyOpStats(ctx, e.api, name, p.UpdatedAt); err != nil {
		return domain.PolicyStatus{}, err
	}
	if p.Mode == domain.PolicyEnforce {
		st.ETA = eta(writes, e.writeRate(p))
	}
	return st, nil
}

func newETag() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// classifyFor classifies sec's drift from p, comparing KMS keys through
// KMS (an alias by the key it points to in the replica's Region). Where KMS
// cannot answer, keys count as the same: nothing is fixed on a guess.
func (e *Engine) classifyFor(ctx context.Context, p domain.Policy, sec domain.InventorySecret) []drift.Drift {
	unsure := false
	return drift.Classify(e.desiredFor(ctx, p, sec.Account, &unsure), sec)
}

func planFor(p domain.Policy, ds []drift.Drift) ([]drift.Op, bool) { return drift.Plan(p, ds) }
