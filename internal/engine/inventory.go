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

// ErrDriftNotComputed: a drift filter was asked of an inventory that has
// no replication policy to compute drift against.
var ErrDriftNotComputed = errors.New("drift is computed against replication policies, and this server has none")

// InventoryCursor is the keyset position after a page of the inventory.
type InventoryCursor = store.InventoryCursor

// ListInventory returns a page of the inventory matching f after the
// cursor (nil: from the start) and the cursor of the next page (nil on the
// last page).
func (e *Engine) ListInventory(ctx context.Context, f domain.InventoryFilter, after *InventoryCursor, limit int) ([]domain.InventorySecret, *InventoryCursor, error) {
	if f.Drift != domain.DriftAny || f.DriftKind != "" {
		return nil, nil, ErrDriftNotComputed
	}
	return e.store.ListInventory(ctx, e.api, f, after, limit)
}

// InventorySecret returns the inventory row of the secret with arn and its
// most recent operations (newest first, at most ops of them).
func (e *Engine) InventorySecret(ctx context.Context, arn string, ops int) (domain.InventorySecret, []domain.Operation, error) {
	sec, err := e.store.GetInventory(ctx, e.api, arn)
	if err != nil {
		return domain.InventorySecret{}, nil, err
	}
	if ops <= 0 {
		return sec, nil, nil
	}
	// Operations queue per secret name (secretid.ID.Key), whatever ARN or
	// name they were requested with.
	recent, err := e.store.List(ctx, e.api, domain.OperationFilter{SecretKey: sec.Name, Limit: ops})
	if err != nil {
		return domain.InventorySecret{}, nil, err
	}
	return sec, recent, nil
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
		}
	}
}
