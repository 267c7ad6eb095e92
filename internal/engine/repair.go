package engine

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

// repairBatch bounds one repair pass.
const repairBatch = 100

func (e *Engine) repairLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.Repair(ctx); err != nil && ctx.Err() == nil {
				e.log.WarnContext(ctx, "repair pass failed", "error", err)
			}
		}
	}
}

// Repair keeps every secret's chain moving. It fails operations whose job
// ended without ending them, and starts secrets whose pending operations
// have no head. Neither should happen; this is the safety net that keeps the
// promise that every accepted operation reaches a terminal state.
func (e *Engine) Repair(ctx context.Context) error {
	stranded, err := e.store.StrandedActive(ctx, e.work, repairBatch)
	if err != nil {
		return err
	}
	for _, op := range stranded {
		err := pgx.BeginFunc(ctx, e.work, func(tx pgx.Tx) error {
			if err := store.LockSecret(ctx, tx, op.SecretKey); err != nil {
				return err
			}
			cur, err := e.store.GetForUpdate(ctx, tx, op.ID)
			if err != nil || cur.State.Terminal() || cur.JobID != op.JobID {
				return err
			}
			cur.State, cur.EndedAt = domain.StateFailed, time.Now()
			cur.Error = &domain.Error{Code: domain.CodeInternal, Message: "execution was lost: its job ended without finishing the operation"}
			cur.NextAttemptAt = time.Time{}
			settleRegions(&cur)
			if err := e.store.Update(ctx, tx, &cur); err != nil {
				return err
			}
			e.log.ErrorContext(ctx, "failed a stranded operation", "operation_id", cur.ID, "job_id", cur.JobID)
			return e.startNext(ctx, tx, cur.SecretKey)
		})
		if err != nil {
			return err
		}
	}
	keys, err := e.store.HeadlessSecrets(ctx, e.work, repairBatch)
	if err != nil {
		return err
	}
	for _, key := range keys {
		err := pgx.BeginFunc(ctx, e.work, func(tx pgx.Tx) error {
			if err := store.LockSecret(ctx, tx, key); err != nil {
				return err
			}
			active, err := e.store.HasActiveHead(ctx, tx, key)
			if err != nil || active {
				return err
			}
			e.log.WarnContext(ctx, "restarting a secret queue with no head")
			return e.startNext(ctx, tx, key)
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
