package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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

// WriterConfig tunes a Writer.
type WriterConfig struct {
	// Workers is how many batches may be committing at once (default
	// WriterWorkersDefault).
	Workers int
	// Batch is the most events per insert (default WriterBatchDefault).
	Batch int
	// Log receives one JSON line per stored event (for shipping to a SIEM);
	// nil disables them.
	Log *slog.Logger
}

// Writer stores events with group commit: concurrent Writes share one
// INSERT and one commit, so under load the audit costs a fraction of a
// transaction per request, and no request waits on a global lock.
type Writer struct {
	pool *pgxpool.Pool
	cfg  WriterConfig
	in   chan *pending

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

type pending struct {
	row  store.AuditRow
	done chan error
}

// NewWriter returns a Writer on pool; Run starts it.
func NewWriter(pool *pgxpool.Pool, cfg WriterConfig) *Writer {
	if cfg.Workers <= 0 {
		cfg.Workers = WriterWorkersDefault
	}
	if cfg.Batch <= 0 {
		cfg.Batch = WriterBatchDefault
	}
	return &Writer{pool: pool, cfg: cfg, in: make(chan *pending, cfg.Batch*cfg.Workers)}
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

// Close stops accepting events, writes those already queued, and returns
// when every worker has finished.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// Write stores an event and returns once it is committed.
func (w *Writer) Write(ctx context.Context, e Event) error {
	r, err := e.row()
	if err != nil {
		return err
	}
	p := &pending{row: r, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.in <- p:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The event may still be stored; the caller cannot wait to know.
		return ctx.Err()
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
		rows := make([]store.AuditRow, len(batch))
		for i, p := range batch {
			rows[i] = p.row
		}
		// Not the request's context: a client giving up must not lose the
		// event of its own request.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := store.InsertAuditEvents(ctx, w.pool, rows)
		cancel()
		if err != nil {
			err = fmt.Errorf("audit: %w", err)
		}
		for _, p := range batch {
			if err == nil && w.cfg.Log != nil {
				w.cfg.Log.Info("audit_event", "event", json.RawMessage(p.row.Body))
			}
			p.done <- err
		}
	}
}
