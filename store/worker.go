package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/replicad/replicad/internal/domain"
)

// The queue* functions below put a worker's statements in a pgx.Batch, so
// that a worker's state change travels in one round trip. Sent outside a
// transaction, a batch is one implicit transaction (one Sync: everything
// commits together, or nothing does), which is how a worker makes one
// commit where it used to make two.

// Active says what QueueUpdateActive found.
type Active struct {
	// Matched: the operation was PENDING or RUNNING, and was written.
	Matched bool
}

// QueueUpdateActive queues in b the update of an operation's mutable fields
// (those Update writes) if it is still PENDING or RUNNING; *res says
// whether it was. The UPDATE locks the row and, in READ COMMITTED,
// re-checks the state on the newest committed version once the lock is
// granted, so it is the lock-then-check a worker did in two statements
// (LockState, then Update): a cancel that committed first makes it write
// nothing, and one that comes after waits for this transaction.
//
// With keepState the stored state is kept and read back into op.State (a
// progress save); otherwise op.State is written. started_at keeps the
// stored start time when there is one, and is read back into op.StartedAt.
func (s *Store) QueueUpdateActive(b *pgx.Batch, op *domain.Operation, keepState bool, res *Active) error {
	args, err := updateArgs(op)
	if err != nil {
		return err
	}
	if keepState {
		args[1] = nil
	}
	b.Queue(`
		UPDATE operations SET state = coalesce($2::text, state), regions = $3, error_code = $4, error_message = $5, aws_calls = $6,
			attempts = $7, job_id = nullif($8::bigint, 0), started_at = coalesce(started_at, $9), ended_at = $10,
			last_attempt_error_code = $11, last_attempt_error_message = $12, next_attempt_at = $13,
			retry_deadline = $14, mutation = $15, steps = $16, updated_at = now()
		WHERE id = $1 AND state IN ('pending', 'running') RETURNING state, started_at, updated_at`, args...).
		QueryRow(func(row pgx.Row) error {
			var (
				state   domain.State
				started *time.Time
				updated time.Time
			)
			err := row.Scan(&state, &started, &updated)
			if errors.Is(err, pgx.ErrNoRows) {
				res.Matched = false
				return nil
			}
			if err != nil {
				return fmt.Errorf("update operation: %w", err)
			}
			res.Matched = true
			op.State, op.UpdatedAt = state, updated
			if started != nil {
				op.StartedAt = *started
			}
			return nil
		})
	return nil
}

// updateArgs are the parameters of Update's statement (and
// QueueUpdateActive's), $1 to $16.
func updateArgs(op *domain.Operation) ([]any, error) {
	regions, err := json.Marshal(op.Regions)
	if err != nil {
		return nil, fmt.Errorf("encode regions: %w", err)
	}
	calls, err := json.Marshal(op.AWSCalls)
	if err != nil {
		return nil, fmt.Errorf("encode aws calls: %w", err)
	}
	var code, lastCode *domain.Code
	var msg, lastMsg *string
	if op.Error != nil {
		code, msg = &op.Error.Code, &op.Error.Message
	}
	if op.LastAttemptError != nil {
		lastCode, lastMsg = &op.LastAttemptError.Code, &op.LastAttemptError.Message
	}
	steps, err := encodeSteps(op.Steps)
	if err != nil {
		return nil, err
	}
	return []any{pgUUID(op.ID), string(op.State), regions, code, msg, calls, op.Attempts, op.JobID, nullTime(op.StartedAt), nullTime(op.EndedAt),
		lastCode, lastMsg, nullTime(op.NextAttemptAt), nullTime(op.RetryDeadline), op.Mutation, steps}, nil
}

// QueueInsertIntent queues InsertIntent's insert in b, but only while the
// operation is PENDING or RUNNING: queued after QueueUpdateActive in the
// same batch, the intent is stored exactly when the operation's move to
// RUNNING is, in the same commit.
func QueueInsertIntent(b *pgx.Batch, in domain.Intent) {
	targets := in.Targets
	if targets == nil {
		targets = []string{}
	}
	b.Queue(`INSERT INTO aws_call_intents (id, operation_id, api, aws_region, target_regions, started_at)
		SELECT $1, $2, $3, $4, $5, $6
		WHERE EXISTS (SELECT 1 FROM operations WHERE id = $2 AND state IN ('pending', 'running'))`,
		pgUUID(in.ID), pgUUID(in.OperationID), in.API, in.Region, targets, in.StartedAt).
		Exec(func(pgconn.CommandTag) error { return nil })
}

// IntentOutcome is how one mutating call ended, for CompleteIntent.
type IntentOutcome struct {
	ID                            uuid.UUID
	Outcome, RequestID, ErrorCode string
}

// QueueCompleteIntent queues CompleteIntent's update in b.
func QueueCompleteIntent(b *pgx.Batch, o IntentOutcome) {
	b.Queue(`UPDATE aws_call_intents SET outcome = $2, request_id = nullif($3, ''), error_code = nullif($4, ''),
		ended_at = now() WHERE id = $1 AND outcome IS NULL`, pgUUID(o.ID), o.Outcome, o.RequestID, o.ErrorCode).
		Exec(func(pgconn.CommandTag) error { return nil })
}

// QueueLockSecret queues LockSecret's lock in b.
func QueueLockSecret(b *pgx.Batch, secretKey string) {
	b.Queue(lockSecretSQL, secretKey).
		Exec(func(pgconn.CommandTag) error { return nil })
}

// Head is the operation next in its secret's queue, as much of it as
// enqueueing its job needs.
type Head struct {
	ID uuid.UUID
	// Background: a policy's operation or a failover's child, whose job
	// yields to interactive ones.
	Background bool
}

// QueueNextPendingHead queues in b NextPending's query, reading only what
// enqueueing needs (no sealed parameters to open); *head is nil when the
// secret has no such operation. Queue it after QueueLockSecret.
func QueueNextPendingHead(b *pgx.Batch, secretKey string, head **Head) {
	b.Queue(`SELECT id, origin_policy IS NOT NULL OR parent_id IS NOT NULL FROM operations
		WHERE secret_key = $1 AND state = 'pending' AND job_id IS NULL ORDER BY seq LIMIT 1`, secretKey).
		QueryRow(func(row pgx.Row) error {
			var h Head
			err := row.Scan(&h.ID, &h.Background)
			if errors.Is(err, pgx.ErrNoRows) {
				*head = nil
				return nil
			}
			if err != nil {
				return fmt.Errorf("next pending operation: %w", err)
			}
			*head = &h
			return nil
		})
}

// QueueSetJob queues SetJob's update in b.
func QueueSetJob(b *pgx.Batch, id uuid.UUID, jobID int64) {
	b.Queue(`UPDATE operations SET job_id = $2 WHERE id = $1`, pgUUID(id), jobID).
		Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return ErrNotFound
			}
			return nil
		})
}
