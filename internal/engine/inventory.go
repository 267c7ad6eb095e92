package engine

import (
	"context"
	"errors"
	"time"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/store"
)

// ErrSecretNotInInventory: no inventory row has that ARN.
var ErrSecretNotInInventory = store.ErrSecretNotFound

// InventoryCursor is the keyset position after a page of the inventory.
type InventoryCursor = store.InventoryCursor

// CountInventory counts the secrets matching f that allow accepts (nil:
// every one): a total across pages that counts only what the caller may
// read, so it tells nobody how many secrets they cannot see. Without a
// check it is one count(*); with one it reads the matching ARNs.
func (e *Engine) CountInventory(ctx context.Context, f domain.InventoryFilter, allow func(arn string) bool) (int64, error) {
	if allow == nil {
		return e.store.CountInventory(ctx, e.api, f)
	}
	arns, err := e.store.InventoryARNs(ctx, e.api, f)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, arn := range arns {
		if allow(arn) {
			n++
		}
	}
	return n, nil
}

// ListInventory returns a page of the inventory matching f after the
// cursor (nil: from the start) and the cursor of the next page (nil on the
// last page). A drift filter first brings every stale row's drift up to
// date, so that it never filters on drift older than the row's reading or
// the policies.
func (e *Engine) ListInventory(ctx context.Context, f domain.InventoryFilter, after *InventoryCursor, limit int) ([]domain.InventorySecret, *InventoryCursor, error) {
	if f.Drift != domain.DriftAny || f.DriftKind != "" {
		if _, err := e.UpdateDrift(ctx); err != nil {
			return nil, nil, err
		}
	}
	rows, next, err := e.store.ListInventory(ctx, e.api, f, after, limit)
	for i := range rows {
		e.redactDrift(&rows[i].Drift)
	}
	return rows, next, err
}

// redactDrift removes account ids from AWS's messages before they leave
// the engine.
func (e *Engine) redactDrift(d *domain.SecretDrift) {
	for i := range d.Findings {
		d.Findings[i].Message = e.red.Text(d.Findings[i].Message)
	}
}

// SecretDetail is one secret of the inventory with what bears on it.
type SecretDetail struct {
	// Secret is the inventory row, its drift brought up to date.
	Secret domain.InventorySecret
	// Policy is the replication policy that selects the secret (nil when
	// none does); Secret.Drift says how the secret differs from it.
	Policy *domain.Policy
	// Operations are the secret's most recent operations, newest first.
	Operations []domain.Operation
}

// recentOpsPages bounds the pages of a secret name's operations read to
// find the operations on one secret: names may be shared across accounts
// and Regions, whose operations are skipped.
const recentOpsPages = 5

// InventorySecret returns the inventory row of the secret with arn, with
// its drift recomputed now, the policy selecting it, and its most recent
// operations (newest first, at most ops of them).
func (e *Engine) InventorySecret(ctx context.Context, arn string, ops int) (SecretDetail, error) {
	sec, err := e.updateDriftOf(ctx, arn)
	if err != nil {
		return SecretDetail{}, err
	}
	e.redactDrift(&sec.Drift)
	out := SecretDetail{Secret: sec}
	if sec.Drift.Policy != "" {
		p, err := e.store.GetPolicy(ctx, e.api, sec.Drift.Policy)
		switch {
		case err == nil:
			out.Policy = &p
		case !errors.Is(err, store.ErrPolicyNotFound):
			return SecretDetail{}, err
		}
	}
	// Operations queue per secret name (secretid.ID.Key), whatever ARN or
	// name they were requested with: read that name's, newest first, and
	// keep those on this secret.
	f := domain.OperationFilter{SecretKey: sec.Name, Limit: ops}
	for range recentOpsPages {
		if ops <= 0 || len(out.Operations) >= ops {
			break
		}
		page, err := e.store.List(ctx, e.api, f)
		if err != nil {
			return SecretDetail{}, err
		}
		for _, op := range page {
			if operationIsOn(op, sec) && len(out.Operations) < ops {
				out.Operations = append(out.Operations, op)
			}
		}
		if len(page) < f.Limit {
			break
		}
		f.BeforeSeq = page[len(page)-1].Seq
	}
	return out, nil
}

// operationIsOn reports whether op acted on sec: by its ARN (in any
// Region: a promotion names the replica's), or by name in sec's Region,
// where a bare name resolves.
func operationIsOn(op domain.Operation, sec domain.InventorySecret) bool {
	if op.Params.SecretID == sec.ARN {
		return true
	}
	id, err := secretid.Parse(op.Params.SecretID)
	if err != nil {
		return false
	}
	if id.IsARN() {
		return id.Account == sec.Account && id.Name == sec.Name
	}
	return id.Name == sec.Name && op.AWSRegion == sec.Region
}

// refreshTimeout bounds the inventory refresh after an operation.
const refreshTimeout = 15 * time.Second

// refreshInventory records what AWS says of the secret an operation just
// changed: ListSecrets lags by up to five minutes, so the scan alone would
// show the inventory stale right after replicad's own change. It is best
// effort: a failure is logged and the next scan catches up. The describe
// is sent before the reading is stored with its send time, so it never
// replaces a newer reading.
//
// seen, when not nil, is a DescribeSecret answer for the operation's secret
// in its Region that the operation read after its last write: it is stored
// as is instead of being asked for again (a Replicate that ended on seeing
// its replicas InSync makes no fourth call).
func (e *Engine) refreshInventory(ctx context.Context, op domain.Operation, seen *look) {
	if e.cfg.NoInventoryRefresh || op.Params.SecretID == "" {
		// A failover parent names no secret: its children refresh theirs.
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	targets := []struct{ region, id string }{{op.AWSRegion, op.Params.SecretID}}
	if op.Kind == domain.KindPromote {
		id, err := secretid.Parse(op.Params.SecretID)
		if err != nil {
			return
		}
		// The promoted replica, now a primary in its own Region, and the
		// former primary, which lost it.
		targets = targets[:0]
		targets = append(targets, struct{ region, id string }{op.AWSRegion, inRegion(id, op.AWSRegion)})
		if id.IsARN() && id.Region != op.AWSRegion {
			targets = append(targets, struct{ region, id string }{id.Region, op.Params.SecretID})
		}
	}
	for _, t := range targets {
		if seen != nil && t.region == op.AWSRegion && t.id == op.Params.SecretID {
			if seen.sec.PrimaryRegion == t.region {
				if _, err := e.store.UpsertInventory(ctx, e.work, domain.InventoryFromSecret(seen.sec, seen.at)); err != nil {
					e.log.WarnContext(ctx, "inventory refresh after an operation failed", "operation_id", op.ID.String(), "error", err)
				}
			}
			continue
		}
		at := time.Now()
		sec, err := e.sm.Describe(ctx, t.region, t.id)
		if err != nil {
			var nf interface{ Transient() bool }
			if !errors.As(err, &nf) || nf.Transient() {
				e.log.WarnContext(ctx, "inventory refresh after an operation failed", "operation_id", op.ID.String(), "error", e.describeErr(err))
			}
			continue
		}
		if sec.PrimaryRegion != t.region {
			// A replica: its primary's row holds it.
			continue
		}
		if _, err := e.store.UpsertInventory(ctx, e.work, domain.InventoryFromSecret(sec, at)); err != nil {
			e.log.WarnContext(ctx, "inventory refresh after an operation failed", "operation_id", op.ID.String(), "error", err)
			continue
		}
		if _, err := e.updateDriftOf(ctx, sec.ARN); err != nil {
			e.log.WarnContext(ctx, "drift after an inventory refresh", "operation_id", op.ID.String(), "error", e.red.Text(err.Error()))
		}
	}
}
