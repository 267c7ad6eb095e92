// Package queue is replicad's job queue: River (a PostgreSQL job table and
// worker pool) behind a small surface, so the rest of the code never imports
// River. A job carries one operation id; the operation's state lives in the
// operations table, the job only says "someone must work on it". Jobs are
// enqueued inside the caller's transaction (the operation row and its job
// commit or roll back together). A job is completed by River's batched
// completer once its handler returns nil, after the operation's terminal
// state committed: a job left running by a crash in between is rescued, and
// its next execution finds the operation ended and only completes it.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Name is the River queue operations run on.
const Name = "operations"

// Defaults for Config's zero values.
const (
	WorkersDefault           = 50
	JobTimeoutDefault        = 2 * time.Minute
	RescueAfterDefault       = 5 * time.Minute
	MaxAttemptsDefault       = 25
	RetryBaseDefault         = time.Second
	RetryMaxDefault          = 5 * time.Minute
	FetchCooldownDefault     = 5 * time.Millisecond
	FetchPollIntervalDefault = 500 * time.Millisecond
)

// Config tunes the queue. The zero value means the defaults.
type Config struct {
	// Workers is how many jobs this process works at once (default
	// WorkersDefault). Zero workers with InsertOnly makes an insert-only
	// queue.
	Workers int
	// InsertOnly: enqueue and cancel, never work jobs (an API-only process).
	InsertOnly bool
	// JobTimeout bounds one execution of a job (default JobTimeoutDefault).
	// Long waits are snoozes, not executions, so this stays short.
	JobTimeout time.Duration
	// RescueAfter is when a job left running by a crashed process is handed
	// to another (default RescueAfterDefault); must exceed JobTimeout.
	RescueAfter time.Duration
	// MaxAttempts before a job is given up (default MaxAttemptsDefault).
	MaxAttempts int
	// RetryBase and RetryMax shape the retry backoff: exponential from
	// RetryBase, capped at RetryMax, with full jitter (defaults
	// RetryBaseDefault, RetryMaxDefault).
	RetryBase, RetryMax time.Duration
	// FetchCooldown and FetchPollInterval bound pickup latency (defaults
	// FetchCooldownDefault, FetchPollIntervalDefault).
	FetchCooldown, FetchPollInterval time.Duration
	// ID names this client in River's tables (default: River's own).
	ID string
	// Logger receives River's logs.
	Logger *slog.Logger
}

// Handler executes one job.
type Handler interface {
	// Execute works on the job. Returning nil ends the job (completed in
	// a batch with others, shortly after: the handler must already have
	// committed whatever ends its operation); a Snooze error reworks it later without spending an
	// attempt; any other error is retried with backoff until MaxAttempts.
	Execute(ctx context.Context, job *Job) error
}

// Job is one execution of an operation's job.
type Job struct {
	// ID is the queue's job id.
	ID int64
	// OperationID is the operation to work on.
	OperationID uuid.UUID
	// Attempt counts executions that ended in error, plus this one.
	Attempt int
	// MaxAttempts is when the queue gives up.
	MaxAttempts int

	river   *river.Job[args]
	backoff *backoff
}

// LastAttempt reports whether an error now ends the job for good.
func (j *Job) LastAttempt() bool { return j.Attempt >= j.MaxAttempts }

// Snooze returns the error that makes the queue rework the job after d
// without spending an attempt.
func Snooze(d time.Duration) error { return river.JobSnooze(d) }

// schedulerInterval is River's JobSchedulerIntervalDefault (internal to
// River, and not configurable outside its tests): a job snoozed for longer
// is left scheduled until the scheduler's next run, which makes it
// available up to this much later than asked; a shorter snooze makes it
// available at once, fetched when its time comes.
const schedulerInterval = 5 * time.Second

// SnoozeWithin returns the error that makes the queue rework the job no
// later than d from now (and perhaps up to schedulerInterval sooner): for a
// caller with an appointment, such as a place in a budget's line, which it
// must not miss but may come back early for and snooze again.
func SnoozeWithin(d time.Duration) error {
	if d > schedulerInterval {
		d -= schedulerInterval
	}
	return river.JobSnooze(d)
}

// NextRetry is when the queue would retry the job if this execution failed
// at now: the backoff policy's choice, which the handler may show its users
// and then pass to RetryAt so that the queue keeps exactly that time.
func (j *Job) NextRetry(now time.Time) time.Time {
	return now.Add(j.backoff.delay(j.Attempt))
}

// RetryAt returns an error that makes the queue retry the job at t
// (spending an attempt, as any error does); err is what the queue records.
func RetryAt(t time.Time, err error) error { return &retryError{at: t, err: err} }

type retryError struct {
	at  time.Time
	err error
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

type args struct {
	OperationID uuid.UUID `json:"operation_id"`
}

func (args) Kind() string { return "replicad.operation" }

// Queue enqueues and works jobs.
type Queue struct {
	client *river.Client[pgx.Tx]
	cfg    Config
	// lastNotify is when QueueInsert last notified (Unix nanoseconds).
	lastNotify atomic.Int64
}

// New returns a Queue on pool, which should be the queue's own pool so that
// job fetching never competes with API requests for connections.
func New(pool *pgxpool.Pool, h Handler, cfg Config) (*Queue, error) {
	cfg = withDefaults(cfg)
	rc := &river.Config{
		ID:                   cfg.ID,
		Logger:               cfg.Logger,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          cfg.MaxAttempts,
		RetryPolicy:          &backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		// Operations are the history users query; River's finished jobs are
		// only bookkeeping, so keep them briefly.
		CompletedJobRetentionPeriod: time.Hour,
		CancelledJobRetentionPeriod: 24 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
		// Migrations 00006 and 00016 drop River's indexes on args, metadata
		// and kind (nothing here queries them); reindex only the ones that
		// remain.
		ReindexerIndexNames: reindexed(),
	}
	if !cfg.InsertOnly {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &worker{h: h, backoff: &backoff{base: cfg.RetryBase, max: cfg.RetryMax}, retryAt: map[int64]time.Time{}}); err != nil {
			return nil, fmt.Errorf("register worker: %w", err)
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{Name: {MaxWorkers: cfg.Workers}}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return &Queue{client: client, cfg: cfg}, nil
}

// reindexed is River's default reindex list without the indexes migrations
// 00006 and 00016 drop.
func reindexed() []string {
	var out []string
	for _, n := range river.ReindexerIndexNamesDefault() {
		if n != "river_job_args_index" && n != "river_job_metadata_index" && n != "river_job_kind" {
			out = append(out, n)
		}
	}
	return out
}

func withDefaults(c Config) Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Workers == 0 {
		c.Workers = WorkersDefault
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = MaxAttemptsDefault
	}
	def(&c.JobTimeout, JobTimeoutDefault)
	def(&c.RescueAfter, RescueAfterDefault)
	def(&c.RetryBase, RetryBaseDefault)
	def(&c.RetryMax, RetryMaxDefault)
	def(&c.FetchCooldown, FetchCooldownDefault)
	def(&c.FetchPollInterval, FetchPollIntervalDefault)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Start begins working jobs (a no-op for an insert-only queue).
func (q *Queue) Start(ctx context.Context) error {
	if q.cfg.InsertOnly {
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start queue: %w", err)
	}
	return nil
}

// HardStopTimeout bounds Stop's second phase: after the drain deadline,
// running jobs are cancelled and given this long to hand their work back.
// A supervisor's grace period must cover the drain timeout plus this.
const HardStopTimeout = 30 * time.Second

// Stop stops fetching jobs and waits for running ones; when ctx ends first,
// their contexts are cancelled and Stop waits for them to hand their jobs
// back.
func (q *Queue) Stop(ctx context.Context) error {
	if q.cfg.InsertOnly {
		return nil
	}
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// Hard stop: cancel running jobs and wait for them to return.
		hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), HardStopTimeout)
		defer cancel()
		err = q.client.StopAndCancel(hard)
	}
	if err != nil {
		return fmt.Errorf("stop queue: %w", err)
	}
	return nil
}

// EnqueueTx adds a job for the operation in tx and returns its id.
func (q *Queue) EnqueueTx(ctx context.Context, tx pgx.Tx, operationID uuid.UUID) (int64, error) {
	res, err := q.client.InsertTx(ctx, tx, args{OperationID: operationID}, &river.InsertOpts{Queue: Name})
	if err != nil {
		return 0, fmt.Errorf("enqueue operation %s: %w", operationID, err)
	}
	return res.Job.ID, nil
}

// BackgroundPriority is the River priority of background jobs (policy
// reconciliation): River fetches jobs in priority order, so a worker that
// frees up takes an interactive operation's job before any background one.
const BackgroundPriority = 4

// EnqueueBackgroundTx is EnqueueTx for background work, which yields to
// interactive jobs whenever both wait for a worker.
func (q *Queue) EnqueueBackgroundTx(ctx context.Context, tx pgx.Tx, operationID uuid.UUID) (int64, error) {
	res, err := q.client.InsertTx(ctx, tx, args{OperationID: operationID}, &river.InsertOpts{Queue: Name, Priority: BackgroundPriority})
	if err != nil {
		return 0, fmt.Errorf("enqueue operation %s: %w", operationID, err)
	}
	return res.Job.ID, nil
}

// NewJob is one operation to enqueue with QueueInsert.
type NewJob struct {
	OperationID uuid.UUID
	// Background jobs yield to interactive ones (EnqueueBackgroundTx).
	Background bool
}

// QueueReserveIDs queues in b the allocation of n job ids from River's own
// sequence; *ids holds them once the batch's results are read. Ids left
// unused are gaps, as a rolled-back insert leaves.
func QueueReserveIDs(b *pgx.Batch, n int, ids *[]int64) {
	if n == 0 {
		return
	}
	b.Queue(`SELECT nextval('river_job_id_seq') FROM generate_series(1, $1)`, n).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			*ids = append(*ids, id)
		}
		return rows.Err()
	})
}

// QueueInsert queues in b the jobs of operations under ids (reserved with
// QueueReserveIDs), in one statement: the row River's own insert would
// write (its table's defaults for times, metadata and tags), without
// River's generic many-row insert and its Go-side work per job, and in the
// caller's pipeline rather than a round trip of its own. Like River's
// insert, it notifies the queue's workers at most once per FetchCooldown.
func (q *Queue) QueueInsert(b *pgx.Batch, ids []int64, jobs []NewJob) error {
	if len(ids) != len(jobs) {
		return fmt.Errorf("enqueue: %d ids for %d operations", len(ids), len(jobs))
	}
	if len(ids) == 0 {
		return nil
	}
	encoded := make([]string, len(jobs))
	priorities := make([]int32, len(jobs))
	for i, j := range jobs {
		a, err := json.Marshal(args{OperationID: j.OperationID})
		if err != nil {
			return fmt.Errorf("enqueue operation %s: %w", j.OperationID, err)
		}
		encoded[i] = string(a)
		priorities[i] = 1 // River's default
		if j.Background {
			priorities[i] = BackgroundPriority
		}
	}
	b.Queue(`INSERT INTO river_job (id, args, kind, max_attempts, priority, queue, state)
		SELECT id, a, $3, $4, p, $5, 'available' FROM unnest($1::bigint[], $2::jsonb[], $6::smallint[]) AS j(id, a, p)`,
		ids, encoded, args{}.Kind(), q.cfg.MaxAttempts, Name, priorities).
		Exec(func(tag pgconn.CommandTag) error {
			if int(tag.RowsAffected()) != len(ids) {
				return fmt.Errorf("enqueue: %d of %d jobs inserted", tag.RowsAffected(), len(ids))
			}
			return nil
		})
	if q.shouldNotify() {
		// River's insert notification (its topic, payload and channel).
		b.Queue(`SELECT pg_notify(current_schema() || '.river_insert', $1)`, `{"queue": "`+Name+`"}`).
			Exec(func(pgconn.CommandTag) error { return nil })
	}
	return nil
}

// shouldNotify limits insert notifications as River's insert does: one per
// FetchCooldown, since a worker woken once fetches everything available.
func (q *Queue) shouldNotify() bool {
	now := time.Now().UnixNano()
	last := q.lastNotify.Load()
	if now-last < int64(q.cfg.FetchCooldown) {
		return false
	}
	return q.lastNotify.CompareAndSwap(last, now)
}

// CancelTx cancels a job in tx. A job that is running is marked for
// cancellation and its context is cancelled.
func (q *Queue) CancelTx(ctx context.Context, tx pgx.Tx, jobID int64) error {
	_, err := q.client.JobCancelTx(ctx, tx, jobID)
	if err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("cancel job %d: %w", jobID, err)
	}
	return nil
}

type worker struct {
	river.WorkerDefaults[args]
	h       Handler
	backoff *backoff

	// retryAt holds the retry time a handler chose (RetryAt) from the
	// moment Work returns until River asks NextRetry for it, right after,
	// in the same executor.
	mu      sync.Mutex
	retryAt map[int64]time.Time
}

func (w *worker) Work(ctx context.Context, rj *river.Job[args]) error {
	err := w.h.Execute(ctx, &Job{
		ID:          rj.ID,
		OperationID: rj.Args.OperationID,
		Attempt:     rj.Attempt,
		MaxAttempts: rj.MaxAttempts,
		river:       rj,
		backoff:     w.backoff,
	})
	var re *retryError
	if errors.As(err, &re) && rj.Attempt < rj.MaxAttempts {
		w.mu.Lock()
		w.retryAt[rj.ID] = re.at
		w.mu.Unlock()
	}
	return err
}

// NextRetry overrides the client's retry policy with the time the handler
// chose, when it chose one: the time it showed its users is the time the
// job runs again.
func (w *worker) NextRetry(rj *river.Job[args]) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.retryAt[rj.ID]
	if !ok {
		return time.Time{} // the client's policy
	}
	delete(w.retryAt, rj.ID)
	// River refuses a time already past (and falls back to its default
	// policy): a retry due now runs at once.
	if soon := time.Now().Add(time.Millisecond); at.Before(soon) {
		return soon
	}
	return at
}

// backoff is exponential backoff with full jitter: a retry waits a uniformly
// random time in [0, min(max, base*2^(attempt-1))], so retries from many
// jobs failing together spread out instead of arriving in waves.
type backoff struct{ base, max time.Duration }

func (b *backoff) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(b.delay(job.Attempt))
}

// delay is the wait after the attempt-th execution failed.
func (b *backoff) delay(attempt int) time.Duration {
	ceiling := b.max
	if shift := attempt - 1; shift < 30 {
		if d := b.base << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// Execer is what RescueJobsOf needs: a pool or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RescueJobsOf makes the jobs that the given clients (queue Config.IDs)
// were executing available to any process at once, instead of after
// RescueAfter: the caller has established that those clients are dead. Each
// rescued job gets an error entry saying why, and its next execution resumes
// the operation from AWS's state like any retry. It returns how many jobs
// were rescued.
func RescueJobsOf(ctx context.Context, db Execer, clientIDs []string, reason string) (int64, error) {
	if len(clientIDs) == 0 {
		return 0, nil
	}
	// The last element of attempted_by is the client working the current
	// attempt (River appends on every fetch). 'available' is what River's
	// own rescuer achieves via 'retryable' and its scheduler, without
	// waiting for the scheduler's next pass. scheduled_at is left as it
	// was, in the past: River fetches by priority, then scheduled_at, so a
	// rescued job goes to the front of its priority, not behind the backlog
	// that piled up while it was held.
	tag, err := db.Exec(ctx, `UPDATE river_job SET
			state = 'available',
			errors = array_append(errors, jsonb_build_object(
				'at', now(), 'attempt', attempt, 'error', $2::text, 'trace', ''))
		WHERE state = 'running' AND queue = $3
		  AND attempted_by[array_length(attempted_by, 1)] = ANY($1::text[])`,
		clientIDs, reason, Name)
	if err != nil {
		return 0, fmt.Errorf("rescue jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}
