package audit

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/store"
)

// chainLockKey serialises chaining across replicad processes.
const chainLockKey int64 = 0x5d1c2a7f3b9e4411

// Defaults for the Chainer.
const (
	ChainIntervalDefault = 200 * time.Millisecond
	chainBatch           = 1000
)

// Chainer links unchained events into the hash chain.
type Chainer struct {
	pool     *pgxpool.Pool
	interval time.Duration
	log      *slog.Logger
}

// NewChainer returns a Chainer polling every interval (default
// ChainIntervalDefault).
func NewChainer(pool *pgxpool.Pool, interval time.Duration, log *slog.Logger) *Chainer {
	if interval <= 0 {
		interval = ChainIntervalDefault
	}
	if log == nil {
		log = slog.Default()
	}
	return &Chainer{pool: pool, interval: interval, log: log}
}

// Run chains until ctx ends, then once more so events written during
// shutdown are linked.
func (c *Chainer) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = c.ChainOnce(final)
			cancel()
			return
		case <-t.C:
		}
		for {
			n, err := c.ChainOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.log.WarnContext(ctx, "audit chaining failed", "error", err)
				}
				break
			}
			if n < chainBatch {
				break
			}
		}
	}
}

// ChainOnce links up to one batch of events and returns how many. Another
// process holding the chain lock makes it a no-op.
func (c *Chainer) ChainOnce(ctx context.Context) (int, error) {
	linked := 0
	var headPos int64
	var headHash []byte
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, chainLockKey).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			return nil
		}
		rows, err := store.UnchainedAuditEvents(ctx, tx, chainBatch)
		if err != nil || len(rows) == 0 {
			return err
		}
		pos, prev, err := store.AuditHead(ctx, tx)
		if err != nil {
			return err
		}
		if prev == nil {
			prev = genesis
		}
		seqs := make([]int64, len(rows))
		positions := make([]int64, len(rows))
		prevs := make([][]byte, len(rows))
		hashes := make([][]byte, len(rows))
		for i, r := range rows {
			pos++
			seqs[i], positions[i], prevs[i] = r.Seq, pos, prev
			prev = Link(prev, r.Body)
			hashes[i] = prev
		}
		if err := store.LinkAuditEvents(ctx, tx, seqs, positions, prevs, hashes); err != nil {
			return err
		}
		linked, headPos, headHash = len(rows), pos, prev
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("chain audit events: %w", err)
	}
	if linked > 0 {
		// The head, logged as it moves, is the external witness that makes
		// rewriting the chain's tail detectable (VerifyAudit known_hash).
		c.log.InfoContext(ctx, "audit chain head", "position", headPos, "hash", hex.EncodeToString(headHash), "linked", linked)
	}
	return linked, nil
}
