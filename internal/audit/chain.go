package audit

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/store"
)

// chainLockKey serialises chaining across replicad processes: the Writer's
// chained inserts, the accepting transactions' (store.QueueInsertAuditEventsChained)
// and the Chainer's linking.
const chainLockKey = store.AuditChainLockKey

// Defaults for the Chainer.
const (
	ChainIntervalDefault = 200 * time.Millisecond
	chainBatch           = 1000
)

// Chainer links unchained events into the hash chain: those inserted in
// another transaction than the Writer's (see ChainOnce).
type Chainer struct {
	pool     *pgxpool.Pool
	interval time.Duration
	log      *slog.Logger

	mu sync.Mutex
	// loggedPos is the head position last logged.
	loggedPos int64
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
			c.LogHead(final)
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
		c.LogHead(ctx)
	}
}

// ChainOnce links up to one batch of events and returns how many. Events
// the Writer stores are chained as they are inserted; what remains are
// those stored in other transactions (an accept's event, committed with
// its operation: engine.AcceptAudit). It waits for the chain lock, which
// the Writer holds for one batch's commit at a time: under load a
// non-blocking attempt would mostly find it taken.
func (c *Chainer) ChainOnce(ctx context.Context) (int, error) {
	linked := 0
	var headPos int64
	var headHash []byte
	err := pgx.BeginTxFunc(ctx, c.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		// Nothing to link (the usual case): no lock, no wait.
		var waiting bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_events WHERE chain_pos IS NULL)`).Scan(&waiting); err != nil || !waiting {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, chainLockKey); err != nil {
			return err
		}
		// After the lock, in READ COMMITTED: these see every commit of the
		// lock's previous holders.
		rows, err := store.UnchainedAuditEvents(ctx, tx, chainBatch)
		if err != nil || len(rows) == 0 {
			return err
		}
		pos, prev, err := store.AuditHead(ctx, tx)
		if err != nil {
			return err
		}
		seqs := make([]int64, len(rows))
		for i, r := range rows {
			seqs[i] = r.Seq
		}
		headPos, headHash = link(rows, pos, prev)
		positions := make([]int64, len(rows))
		prevs := make([][]byte, len(rows))
		hashes := make([][]byte, len(rows))
		for i, r := range rows {
			positions[i], prevs[i], hashes[i] = r.ChainPos, r.PrevHash, r.Hash
		}
		if err := store.LinkAuditEvents(ctx, tx, seqs, positions, prevs, hashes); err != nil {
			return err
		}
		linked = len(rows)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("chain audit events: %w", err)
	}
	if linked > 0 {
		c.logged(ctx, headPos, headHash)
	}
	return linked, nil
}

// LogHead logs the chain's head if it moved since last logged. The head,
// logged as it moves, is the external witness that makes rewriting the
// chain's tail detectable (VerifyAudit known_hash). Since the Writer chains
// as it inserts, the head moves without the Chainer: Run reads it every
// interval (one index probe), so the witness lags the chain by at most an
// interval, as it did when the Chainer linked everything.
func (c *Chainer) LogHead(ctx context.Context) {
	pos, hash, err := store.AuditHead(ctx, c.pool)
	if err != nil {
		if ctx.Err() == nil {
			c.log.WarnContext(ctx, "audit chain head unreadable", "error", err)
		}
		return
	}
	c.logged(ctx, pos, hash)
}

func (c *Chainer) logged(ctx context.Context, pos int64, hash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pos == 0 || pos == c.loggedPos {
		return
	}
	c.log.InfoContext(ctx, "audit chain head", "position", pos, "hash", hex.EncodeToString(hash), "linked", pos-c.loggedPos)
	c.loggedPos = pos
}
