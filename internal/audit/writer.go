package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/store"
)

// ErrClosed is returned by Write after the Writer stopped.
var ErrClosed = errors.New("audit writer stopped")

// Defaults for WriterConfig's zero values.
const (
	WriterWorkersDefault = 4
	WriterBatchDefault   = 256
)

// Retry schedule of events handed to Retry: exponential from retryBase,
// capped at retryMax, for as long as the process lives. maxRetrying bounds
// the memory they hold while the database is away (an AWS-call event is
// about a kilobyte); beyond it an event goes to its unstored function.
const (
	retryBase   = 100 * time.Millisecond
	retryMax    = 5 * time.Second
	maxRetrying = 50_000
)

// errRetryFull: too many events already wait for the database.
var errRetryFull = errors.New("too many audit events waiting for the database to come back")

// WriterConfig tunes a Writer.
type WriterConfig struct {
	// Workers is how many batches may be committing at once (default
	// WriterWorkersDefault).
	Workers int
	// Batch is the most events per insert (default WriterBatchDefault).
	Batch int
	// Log receives one JSON line per stored event (for shipping to a SIEM),
	// at INFO, routine reads at DEBUG; nil disables them.
	Log *slog.Logger
	// Observer, if set, hears about every insert (metrics).
	Observer WriterObserver
}

// WriterObserver hears what the Writer does.
type WriterObserver interface {
	// AuditBatch reports one group-committed insert of size events; failed
	// is how many of them could not be stored in the end (after the
	// one-by-one retry).
	AuditBatch(size, failed int)
}

// Writer stores events with group commit: concurrent Writes share one
// INSERT and one commit, so under load the audit costs a fraction of a
// transaction per request, and no request waits on a global lock.
type Writer struct {
	pool *pgxpool.Pool
	cfg  WriterConfig
	in   chan *pending
	// chainMu: one of this process's batches at a time takes the chain
	// lock (insert).
	chainMu sync.Mutex

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
	// retrying holds the events waiting for their next try (Retry), each
	// with its timer; retries counts the tries scheduled or running.
	retrying map[*pending]*time.Timer
	retries  sync.WaitGroup
}

type pending struct {
	event Event
	row   store.AuditRow
	// done receives the outcome of a Write; nil for WriteAsync, whose
	// failures go to unstored instead.
	done     chan error
	unstored func(error)
	// tries is how many times Retry has tried to store the event.
	tries int
}

// NewWriter returns a Writer on pool; Run starts it.
func NewWriter(pool *pgxpool.Pool, cfg WriterConfig) *Writer {
	if cfg.Workers <= 0 {
		cfg.Workers = WriterWorkersDefault
	}
	if cfg.Batch <= 0 {
		cfg.Batch = WriterBatchDefault
	}
	return &Writer{pool: pool, cfg: cfg, in: make(chan *pending, cfg.Batch*cfg.Workers), retrying: map[*pending]*time.Timer{}}
}

// Run writes until Close.
func (w *Writer) Run() {
	for range w.cfg.Workers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.loop()
		}()
	}
}

// Close stops accepting events, writes those already queued, gives each
// event waiting in Retry one last try, and returns when every worker has
// finished.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	waiting := w.retrying
	w.retrying = map[*pending]*time.Timer{}
	w.mu.Unlock()
	w.wg.Wait()
	for p, t := range waiting {
		if t.Stop() {
			// Its timer will not run: this is its last try.
			w.lastTry(p)
			w.retries.Done()
		}
		// Otherwise its timer is running the try, and sees the Writer
		// closed if that fails.
	}
	w.retries.Wait()
}

// Retry keeps trying to store an event that could not be stored (the
// database was unreachable, restarting, failing over), in the background,
// until it is stored or the Writer closes; unstored hears about it only
// then, or if too many events already wait. The events it is for — AWS
// calls — describe something that already happened: they must not be lost
// to a log line because the database was away for a moment.
func (w *Writer) Retry(e Event, unstored func(error)) {
	if e.ID == uuid.Nil {
		e.ID = uuid.Must(uuid.NewV7())
	}
	r, err := e.Row()
	if err != nil {
		unstored(err)
		return
	}
	w.schedule(&pending{event: e, row: r, unstored: unstored})
}

func (w *Writer) schedule(p *pending) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.lastTry(p)
		return
	}
	if len(w.retrying) >= maxRetrying {
		w.mu.Unlock()
		p.unstored(errRetryFull)
		return
	}
	delay := retryMax
	if p.tries < 10 {
		delay = min(retryBase<<p.tries, retryMax)
	}
	p.tries++
	w.retries.Add(1)
	w.retrying[p] = time.AfterFunc(delay, func() {
		defer w.retries.Done()
		w.mu.Lock()
		delete(w.retrying, p)
		w.mu.Unlock()
		err := w.insertOne(p)
		if err == nil {
			w.logStored(p.row.Body, p.event.Routine)
			return
		}
		w.schedule(p)
	})
	w.mu.Unlock()
}

// lastTry stores p once, or hands it to its unstored function.
func (w *Writer) lastTry(p *pending) {
	if err := w.insertOne(p); err != nil {
		p.unstored(fmt.Errorf("audit: %w", err))
		return
	}
	w.logStored(p.row.Body, p.event.Routine)
}

// Retrying is how many events wait in Retry for the database.
func (w *Writer) Retrying() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.retrying)
}

// Write stores an event and returns once it is committed.
func (w *Writer) Write(ctx context.Context, e Event) error {
	p, err := w.enqueue(ctx, e, make(chan error, 1), nil)
	if err != nil {
		return err
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The event may still be stored; the caller cannot wait to know.
		return ctx.Err()
	}
}

// WriteAsync hands an event to the group commit without waiting for it:
// it returns once the event is queued. An event that cannot be stored is
// passed to unstored. Nothing queued is lost by Close; what a crash can
// lose is bounded by LossWindow, because WriteAsync blocks while the queue
// is full.
func (w *Writer) WriteAsync(ctx context.Context, e Event, unstored func(error)) error {
	_, err := w.enqueue(ctx, e, nil, unstored)
	return err
}

// LossWindow is the most events WriteAsync may have accepted that a crash
// (kill -9) can lose: the queue's capacity plus one batch per worker being
// committed.
func (w *Writer) LossWindow() int { return cap(w.in) + w.cfg.Workers*w.cfg.Batch }

func (w *Writer) enqueue(ctx context.Context, e Event, done chan error, unstored func(error)) (*pending, error) {
	if e.ID == uuid.Nil {
		e.ID = uuid.Must(uuid.NewV7())
	}
	r, err := e.Row()
	if err != nil {
		return nil, err
	}
	p := &pending{event: e, row: r, done: done, unstored: unstored}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case w.in <- p:
		w.mu.RUnlock()
		return p, nil
	case <-ctx.Done():
		w.mu.RUnlock()
		return nil, ctx.Err()
	}
}

func (w *Writer) loop() {
	batch := make([]*pending, 0, w.cfg.Batch)
	for first := range w.in {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < w.cfg.Batch {
			select {
			case p, ok := <-w.in:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		w.store(batch)
	}
}

// Queued is how many events wait for a worker.
func (w *Writer) Queued() int { return len(w.in) }

// store inserts a batch in one statement. If the statement fails, the
// events are inserted one by one, so that one event the database refuses
// never takes the others with it; an event refused on its own is stored in
// its strict form (see Event.strict) rather than lost.
func (w *Writer) store(batch []*pending) {
	rows := make([]store.AuditRow, len(batch))
	for i, p := range batch {
		rows[i] = p.row
	}
	errs := make([]error, len(batch))
	if err := w.insert(rows...); err != nil {
		for i, p := range batch {
			errs[i] = w.insertOne(p)
		}
	}
	failed := 0
	for i, p := range batch {
		if errs[i] != nil {
			failed++
			errs[i] = fmt.Errorf("audit: %w", errs[i])
		} else {
			w.logStored(p.row.Body, p.event.Routine)
		}
		switch {
		case p.done != nil:
			p.done <- errs[i]
		case errs[i] != nil && p.unstored != nil:
			p.unstored(errs[i])
		}
	}
	if w.cfg.Observer != nil {
		w.cfg.Observer.AuditBatch(len(batch), failed)
	}
}

func (w *Writer) insertOne(p *pending) error {
	err := w.insert(p.row)
	if err == nil || alreadyStored(err) {
		return nil
	}
	if !refusedValue(err) {
		return err
	}
	r, serr := p.event.strict().row()
	if serr != nil {
		return errors.Join(err, serr)
	}
	if serr = w.insert(r); serr != nil && !alreadyStored(serr) {
		return errors.Join(err, serr)
	}
	p.row = r
	return nil
}

func (w *Writer) insert(rows ...store.AuditRow) error {
	// Not the request's context: a client giving up must not lose the
	// event of its own request.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// One batch at a time per process takes the chain lock, so the
	// workers queue here rather than each holding a connection in
	// PostgreSQL's lock wait; the others fill their batches meanwhile.
	w.chainMu.Lock()
	defer w.chainMu.Unlock()
	return insertChained(ctx, w.pool, rows)
}

// insertChained inserts rows already linked into the chain, in one
// transaction holding the chain lock (the Chainer's), so that each event is
// written once rather than inserted and then updated by the Chainer.
//
// Crash safety: the head is read after the lock is granted, in READ
// COMMITTED, so it is the newest position any committed transaction holds
// (a transaction's advisory lock is released only after its commit is
// visible); the rows and their positions commit together or not at all,
// and the lock goes with the transaction. A crash anywhere (replicad or
// PostgreSQL) therefore leaves either the whole batch chained after the
// head it read, or nothing: never a position without its predecessor.
// chain_pos is UNIQUE besides, so a forked chain could not be committed.
func insertChained(ctx context.Context, pool *pgxpool.Pool, rows []store.AuditRow) error {
	linked := make([]store.AuditRow, len(rows))
	copy(linked, rows)
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, chainLockKey); err != nil {
			return fmt.Errorf("take the audit chain lock: %w", err)
		}
		pos, prev, err := store.AuditHead(ctx, tx)
		if err != nil {
			return err
		}
		link(linked, pos, prev)
		return store.InsertAuditEvents(ctx, tx, linked)
	})
}

// link gives rows the chain positions after the head (pos, prev), in
// order, and returns the new head.
func link(rows []store.AuditRow, pos int64, prev []byte) (int64, []byte) {
	if prev == nil {
		prev = genesis
	}
	for i := range rows {
		pos++
		rows[i].ChainPos, rows[i].PrevHash = pos, prev
		prev = Link(prev, rows[i].Body)
		rows[i].Hash = prev
	}
	return pos, prev
}

// alreadyStored: the event's id is taken, so an earlier attempt (the batch
// whose answer was lost) stored it.
func alreadyStored(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "audit_events_id_key"
}

// refusedValue: the database refused a value of the row itself (data
// exception, or a program limit such as the index entry size), not the
// connection or the server's state.
func refusedValue(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "54"))
}
