package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/queue"
	"github.com/replicad/replicad/store"
)

// AcceptAudit is the audit event of the request accepting an operation
// (audit.Accept). The engine stores it in the transaction that accepts the
// operation: one commit makes both durable, and neither exists without the
// other.
type AcceptAudit interface {
	// AcceptRow returns the event's row for op; strict asks for the form
	// the database accepts whatever the request held.
	AcceptRow(op domain.Operation, strict bool) (store.AuditRow, error)
	// Stored is called once row has committed.
	Stored(row store.AuditRow)
}

// Defaults for the accept committer.
const (
	// AcceptCommittersDefault is how many accepting transactions may be
	// committing at once. While they are, new accepts queue and the next
	// free committer takes all of them into one transaction: group commit
	// without a timer, so a lone request waits for nobody.
	AcceptCommittersDefault = 4
	// AcceptBatchDefault bounds the accepts sharing one transaction.
	AcceptBatchDefault = 128
)

// accepting is one Submit waiting for its batch's commit.
type accepting struct {
	op    *domain.Operation
	audit AcceptAudit // nil: nothing to store with the operation
	row   store.AuditRow
	done  chan error
}

// committer group-commits accepts: each Submit hands its operation (and its
// request's audit event) over and waits; a committer puts every accept
// queued at the time in one transaction. A transaction that fails before
// its commit is retried in halves, down to one accept per transaction, so
// one bad row (a request_id taken meanwhile, a value the database refuses)
// fails only its own request.
type committer struct {
	e      *Engine
	in     chan *accepting
	batch  int
	window time.Duration
	wg     sync.WaitGroup
	stop   chan struct{}

	mu     sync.RWMutex // held for reading while handing an accept over
	closed bool
}

func newCommitter(e *Engine, workers, batch int, window time.Duration) *committer {
	c := &committer{e: e, in: make(chan *accepting, workers*batch), batch: batch, window: window, stop: make(chan struct{})}
	for range workers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.loop()
		}()
	}
	return c
}

// close stops the committers once the accepts queued are committed.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// accept commits a and returns its outcome. Once handed over, it waits for
// the outcome even if ctx ends (a batch's transaction is bounded by its own
// timeout): a caller told "cancelled" must not find its operation accepted.
func (c *committer) accept(ctx context.Context, a *accepting) error {
	a.done = make(chan error, 1)
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errEngineClosed
	}
	select {
	case c.in <- a:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	return <-a.done
}

func (c *committer) loop() {
	batch := make([]*accepting, 0, c.batch)
	for {
		var first *accepting
		select {
		case first = <-c.in:
		case <-c.stop:
			// Drain what was queued before the stop.
			select {
			case first = <-c.in:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
		var timeout <-chan time.Time
		var timer *time.Timer
		if c.window > 0 {
			timer = time.NewTimer(c.window)
			timeout = timer.C
		}
	fill:
		for len(batch) < c.batch {
			if timeout == nil {
				select {
				case a := <-c.in:
					batch = append(batch, a)
				default:
					break fill
				}
				continue
			}
			select {
			case a := <-c.in:
				batch = append(batch, a)
			case <-timeout:
				break fill
			}
		}
		if timer != nil {
			timer.Stop()
		}
		c.commit(batch)
	}
}

var errEngineClosed = errors.New("engine closed: accepting no more operations")

// errCommit marks a failure of COMMIT itself: its outcome is unknown, so
// the accepts are not retried (they may be durable).
type errCommit struct{ err error }

func (e errCommit) Error() string { return "commit: " + e.err.Error() }
func (e errCommit) Unwrap() error { return e.err }

func (c *committer) commit(batch []*accepting) {
	err := c.tx(batch, false)
	if err == nil || len(batch) == 1 {
		if err != nil && !errors.Is(err, store.ErrDuplicateRequestID) && !errors.As(err, new(errCommit)) && batch[0].audit != nil {
			// The one accept failed on its own: perhaps a value of its
			// audit event the database refuses; store the strict form
			// rather than refuse the request.
			err = c.tx(batch, true)
		}
		c.done(batch, err)
		return
	}
	if errors.As(err, new(errCommit)) {
		c.done(batch, err)
		return
	}
	// Isolate: retry each half in its own transaction, so one bad row
	// fails only its own request, after log2(len) halvings, while the
	// others still share commits. Order is kept: the first half commits
	// before the second.
	half := len(batch) / 2
	c.commit(batch[:half])
	c.commit(batch[half:])
}

func (c *committer) done(batch []*accepting, err error) {
	for _, a := range batch {
		if err == nil && a.audit != nil {
			a.audit.Stored(a.row)
		}
		a.done <- err
	}
}

// tx accepts a batch in one transaction of two round trips whatever its
// size: BEGIN, the secrets' locks, in-flight checks and job ids; then the
// jobs of the operations that head their secret's queue, the operations,
// their approvals and audit events (chained as they are inserted), and
// COMMIT.
func (c *committer) tx(batch []*accepting, strict bool) (err error) {
	e := c.e
	// Not a request's context: the batch serves several requests, and the
	// caller who gave up must not fail the others.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := e.api.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// BEGIN and COMMIT travel in the batches (pgx.Tx would give each a
	// round trip of its own). Whatever fails, the transaction must not
	// outlive this call: a ROLLBACK ends it (a no-op once committed), and
	// a connection the pool finds still in a transaction is closed.
	defer func() {
		if err != nil {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		conn.Release()
	}()
	keys := make([]string, len(batch))
	pending := 0
	for i, a := range batch {
		keys[i] = a.op.SecretKey
		a.op.JobID = 0
		if a.op.State == domain.StatePending {
			pending++
		}
	}
	// One round trip: the transaction's start, the locks, the in-flight
	// check, and an id for every job the batch may need (its pending
	// operations), which the jobs and the operations carrying them are then
	// inserted with. READ COMMITTED whatever the server's default: the
	// active-operation check must see operations committed while it waited
	// for the lock.
	first := &pgx.Batch{}
	first.Queue("BEGIN ISOLATION LEVEL READ COMMITTED").Exec(func(pgconn.CommandTag) error { return nil })
	active := store.QueueLockSecretsActive(first, keys)
	var jobIDs []int64
	queue.QueueReserveIDs(first, pending, &jobIDs)
	if err := conn.SendBatch(ctx, first).Close(); err != nil {
		return fmt.Errorf("lock secret queues: %w", err)
	}
	// In acceptance order: the first PENDING operation of a secret with
	// nothing in flight heads its queue and gets a job; any later one in
	// the batch waits behind it, as if accepted in its own transaction.
	var heads []queue.NewJob
	for _, a := range batch {
		if a.op.State != domain.StatePending {
			continue
		}
		if !active[a.op.SecretKey] {
			a.op.JobID = jobIDs[len(heads)]
			// Policy work and failover children yield to interactive
			// requests (queue.BackgroundPriority).
			heads = append(heads, queue.NewJob{OperationID: a.op.ID, Background: a.op.OriginPolicy != "" || a.op.ParentID != uuid.Nil})
		}
		active[a.op.SecretKey] = true
	}
	b := &pgx.Batch{}
	if err := e.queue.QueueInsert(b, jobIDs[:len(heads)], heads); err != nil {
		return err
	}
	var rows []store.AuditRow
	for _, a := range batch {
		if err := e.store.QueueInsert(b, a.op); err != nil {
			return err
		}
		if a.op.Approval != nil {
			if err := e.store.QueueSetApproval(b, a.op.ID, a.op.Approval); err != nil {
				return err
			}
		}
		if a.audit != nil {
			if a.row, err = a.audit.AcceptRow(*a.op, strict); err != nil {
				return err
			}
			rows = append(rows, a.row)
		}
	}
	// Last before COMMIT: the chain lock, if free, is held until the
	// commit, and serialises chained inserts (the audit Writer's too), so
	// it is held for the insert and the commit only. Its events are then
	// written once, chained, rather than inserted and updated by the
	// Chainer; with the lock taken, they are inserted unchained.
	store.QueueInsertAuditEventsChained(b, rows)
	// Whether the statements before COMMIT all succeeded: if so, a failure
	// is COMMIT's own, whose outcome is unknown.
	reached := false
	b.Queue("SELECT").Exec(func(pgconn.CommandTag) error { reached = true; return nil })
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			// PostgreSQL answers ROLLBACK to the COMMIT of a transaction
			// that failed.
			return fmt.Errorf("transaction rolled back (%s)", tag)
		}
		return nil
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		if reached {
			return errCommit{err}
		}
		return err
	}
	return nil
}
