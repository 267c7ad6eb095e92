// Package store is replicad's PostgreSQL access layer (pgx/v5): the queries
// over the operations table. Every method takes the DB to run on — a pool or
// a transaction — so callers compose them into the transactions they need;
// the store never opens one itself. Sensitive parameters are sealed here, on
// the way in, and opened on the way out.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/seal"
)

// DB is what the store needs from a pgx pool, connection or transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrNotFound is returned when no operation matches.
var ErrNotFound = errors.New("operation not found")

// ErrDuplicatePolicyOperation is returned by Insert when the operation's
// policy already has an active operation of its kind on the secret.
var ErrDuplicatePolicyOperation = errors.New("the policy already has such an operation in flight on the secret")

// ErrDuplicateRequestID is returned by Insert when the principal already
// used the request_id (a concurrent replay lost the race).
var ErrDuplicateRequestID = errors.New("request_id already used")

// Store runs the queries.
type Store struct {
	box *seal.Box
}

// New returns a Store sealing parameters with box.
func New(box *seal.Box) *Store { return &Store{box: box} }

// columnList is the SELECT list of an operation; {t} is replaced by the
// table alias (empty, or "o." in joins).
var columnList = []string{
	"{t}id", "{t}seq", "{t}kind", "{t}state", "{t}secret_key", "{t}secret_display", "{t}aws_region", "{t}params",
	"{t}regions", "{t}force", "{t}principal", "coalesce({t}request_id, '')", "{t}request_hash", "{t}reason_fingerprint",
	"{t}labels", "{t}error_code", "coalesce({t}error_message, '')", "{t}aws_calls", "{t}attempts",
	"coalesce({t}job_id, 0)", "{t}created_at", "{t}updated_at", "{t}started_at", "{t}ended_at", "{t}trace_parent",
	"{t}approval", "{t}last_attempt_error_code", "coalesce({t}last_attempt_error_message, '')", "{t}next_attempt_at",
	"{t}retry_deadline", "{t}mutation", "coalesce({t}origin_policy, '')", "{t}parent_id", "{t}steps",
	// Mutating AWS calls sent without a recorded outcome (intents.go): in
	// flight, or cut off by a crash.
	`(SELECT coalesce(jsonb_agg(jsonb_build_object('api', i.api, 'region', i.aws_region, 'time', i.started_at,
		'outcome_unknown', true) ORDER BY i.started_at), '[]'::jsonb)
		FROM aws_call_intents i WHERE i.operation_id = {op}.id AND i.outcome IS NULL)`,
}

func selectList(alias string) string {
	// {op} qualifies the operation's columns inside subqueries, where a
	// bare name would be the subquery's own.
	op := strings.TrimSuffix(alias, ".")
	if op == "" {
		op = "operations"
	}
	return strings.NewReplacer("{t}", alias, "{op}", op).Replace(strings.Join(columnList, ", "))
}

var columns = selectList("")

// Insert stores a new operation; Seq, CreatedAt and UpdatedAt are filled in.
func (s *Store) Insert(ctx context.Context, db DB, op *domain.Operation) error {
	args, err := s.insertArgs(op)
	if err != nil {
		return err
	}
	return insertErr(db.QueryRow(ctx, insertSQL, args...).Scan(&op.Seq, &op.CreatedAt, &op.UpdatedAt))
}

// insertArgs are insertSQL's arguments for op.
func (s *Store) insertArgs(op *domain.Operation) ([]any, error) {
	params, err := json.Marshal(op.Params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	regions, err := json.Marshal(op.Regions)
	if err != nil {
		return nil, fmt.Errorf("encode regions: %w", err)
	}
	labels := op.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	var requestID *string
	if op.RequestID != "" {
		requestID = &op.RequestID
	}
	steps, err := encodeSteps(op.Steps)
	if err != nil {
		return nil, err
	}
	return []any{pgUUID(op.ID), op.Kind, op.State, op.SecretKey, op.SecretDisplay, op.AWSRegion,
		s.box.Seal(params, op.ID[:]), regions, op.Force, op.Principal, requestID, op.RequestHash,
		op.ReasonFingerprint, labels, op.JobID, op.TraceParent, op.OriginPolicy, pgUUID(op.ParentID), steps}, nil
}

// insertErr names the unique violations an insert can meet.
func insertErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "operations_principal_request_id" {
		return ErrDuplicateRequestID
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "operations_policy_active" {
		return ErrDuplicatePolicyOperation
	}
	if err != nil {
		return fmt.Errorf("insert operation: %w", err)
	}
	return nil
}

const insertSQL = `
	INSERT INTO operations (id, kind, state, secret_key, secret_display, aws_region, params, regions, force,
		principal, request_id, request_hash, reason_fingerprint, labels, job_id, trace_parent, origin_policy, parent_id, steps)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, nullif($15::bigint, 0), $16, nullif($17, ''), $18, $19)
	RETURNING seq, created_at, updated_at`

// Get returns one operation.
func (s *Store) Get(ctx context.Context, db DB, id uuid.UUID) (domain.Operation, error) {
	return s.one(db.QueryRow(ctx, `SELECT `+columns+` FROM operations WHERE id = $1`, pgUUID(id)))
}

// GetForUpdate returns one operation and locks its row until the
// transaction ends.
func (s *Store) GetForUpdate(ctx context.Context, tx pgx.Tx, id uuid.UUID) (domain.Operation, error) {
	return s.one(tx.QueryRow(ctx, `SELECT `+columns+` FROM operations WHERE id = $1 FOR UPDATE`, pgUUID(id)))
}

// LockState locks one operation's row until the transaction ends and
// returns only its state and start time: what a worker checks before
// writing back the operation it holds, without reading and unsealing the
// whole row again.
func (s *Store) LockState(ctx context.Context, tx pgx.Tx, id uuid.UUID) (domain.State, time.Time, error) {
	var (
		state   domain.State
		started *time.Time
	)
	err := tx.QueryRow(ctx, `SELECT state, started_at FROM operations WHERE id = $1 FOR UPDATE`, pgUUID(id)).Scan(&state, &started)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, ErrNotFound
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("lock operation: %w", err)
	}
	if started == nil {
		return state, time.Time{}, nil
	}
	return state, *started, nil
}

// GetByRequestID returns the operation a principal created with requestID.
func (s *Store) GetByRequestID(ctx context.Context, db DB, principal, requestID string) (domain.Operation, error) {
	return s.one(db.QueryRow(ctx, `SELECT `+columns+` FROM operations WHERE principal = $1 AND request_id = $2`, principal, requestID))
}

// LockSecret takes the transaction-scoped lock that serialises queue changes
// for one secret: accepting, finishing and cancelling its operations.
func LockSecret(ctx context.Context, tx pgx.Tx, secretKey string) error {
	if _, err := tx.Exec(ctx, lockSecretSQL, secretKey); err != nil {
		return fmt.Errorf("lock secret queue: %w", err)
	}
	return nil
}

const lockSecretSQL = `SELECT pg_advisory_xact_lock(hashtextextended('replicad.secret:' || $1, 0))`

// LockSecretHasActive takes LockSecret's lock and then reports whether the
// secret has an operation that is PENDING or RUNNING. The two statements
// travel in one round trip (a pipeline) but run one after the other, so
// the check's snapshot is taken after the lock is held and sees every
// operation committed before it.
func (s *Store) LockSecretHasActive(ctx context.Context, tx pgx.Tx, secretKey string) (bool, error) {
	b := &pgx.Batch{}
	b.Queue(lockSecretSQL, secretKey)
	b.Queue(`SELECT EXISTS (SELECT 1 FROM operations WHERE secret_key = $1 AND state IN ('pending', 'running'))`, secretKey)
	res := tx.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		_ = res.Close()
		return false, fmt.Errorf("lock secret queue: %w", err)
	}
	var active bool
	if err := res.QueryRow().Scan(&active); err != nil {
		_ = res.Close()
		return false, fmt.Errorf("check active operations: %w", err)
	}
	if err := res.Close(); err != nil {
		return false, fmt.Errorf("lock secret and check active operations: %w", err)
	}
	return active, nil
}

// NextPending returns the oldest PENDING operation on the secret that no job
// carries yet, or ErrNotFound. Call it under LockSecret.
func (s *Store) NextPending(ctx context.Context, db DB, secretKey string) (domain.Operation, error) {
	return s.one(db.QueryRow(ctx, `SELECT `+columns+` FROM operations
		WHERE secret_key = $1 AND state = 'pending' AND job_id IS NULL ORDER BY seq LIMIT 1`, secretKey))
}

// SetJob records the queue job carrying an operation.
func (s *Store) SetJob(ctx context.Context, db DB, id uuid.UUID, jobID int64) error {
	tag, err := db.Exec(ctx, `UPDATE operations SET job_id = $2 WHERE id = $1`, pgUUID(id), jobID)
	if err != nil {
		return fmt.Errorf("set job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Update writes an operation's mutable fields (state, progress, error, AWS
// calls, attempts, job, times) and sets UpdatedAt.
func (s *Store) Update(ctx context.Context, db DB, op *domain.Operation) error {
	args, err := updateArgs(op)
	if err != nil {
		return err
	}
	err = db.QueryRow(ctx, `
		UPDATE operations SET state = $2, regions = $3, error_code = $4, error_message = $5, aws_calls = $6,
			attempts = $7, job_id = nullif($8::bigint, 0), started_at = $9, ended_at = $10,
			last_attempt_error_code = $11, last_attempt_error_message = $12, next_attempt_at = $13,
			retry_deadline = $14, mutation = $15, steps = $16, updated_at = now()
		WHERE id = $1 RETURNING updated_at`, args...,
	).Scan(&op.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update operation: %w", err)
	}
	return nil
}

// List returns operations newest first.
func (s *Store) List(ctx context.Context, db DB, f domain.OperationFilter) ([]domain.Operation, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.SecretKey != "" {
		add("secret_key = ?", f.SecretKey)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	q := `SELECT ` + columns + ` FROM operations`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += " ORDER BY seq DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	defer rows.Close()
	ops := make([]domain.Operation, 0, max(0, min(f.Limit, 100)))
	for rows.Next() {
		op, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	return ops, nil
}

func (s *Store) one(row pgx.Row) (domain.Operation, error) {
	op, err := s.scan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Operation{}, ErrNotFound
	}
	return op, err
}

func (s *Store) scan(row pgx.Row) (domain.Operation, error) {
	var (
		op             domain.Operation
		sealed         []byte
		regions, calls []byte
		open           []byte
		code           *domain.Code
		msg            string
		started, ended *time.Time
		approval       []byte
		parent         pgtype.UUID
		steps          []byte
		lastCode       *domain.Code
		lastMsg        string
		next, deadline *time.Time
	)
	err := row.Scan(&op.ID, &op.Seq, &op.Kind, &op.State, &op.SecretKey, &op.SecretDisplay, &op.AWSRegion,
		&sealed, &regions, &op.Force, &op.Principal, &op.RequestID, &op.RequestHash, &op.ReasonFingerprint,
		&op.Labels, &code, &msg, &calls, &op.Attempts, &op.JobID, &op.CreatedAt, &op.UpdatedAt, &started, &ended, &op.TraceParent,
		&approval, &lastCode, &lastMsg, &next, &deadline, &op.Mutation, &op.OriginPolicy, &parent, &steps, &open)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return op, err
		}
		return op, fmt.Errorf("read operation: %w", err)
	}
	params, err := s.box.Open(sealed, op.ID[:])
	if err != nil {
		return op, fmt.Errorf("operation %s: open params: %w", op.ID, err)
	}
	if err := json.Unmarshal(params, &op.Params); err != nil {
		return op, fmt.Errorf("operation %s: decode params: %w", op.ID, err)
	}
	if err := json.Unmarshal(regions, &op.Regions); err != nil {
		return op, fmt.Errorf("operation %s: decode regions: %w", op.ID, err)
	}
	if err := json.Unmarshal(calls, &op.AWSCalls); err != nil {
		return op, fmt.Errorf("operation %s: decode aws calls: %w", op.ID, err)
	}
	if err := json.Unmarshal(open, &op.OpenCalls); err != nil {
		return op, fmt.Errorf("operation %s: decode open aws calls: %w", op.ID, err)
	}
	if len(op.OpenCalls) == 0 {
		op.OpenCalls = nil
	}
	if code != nil {
		op.Error = &domain.Error{Code: *code, Message: msg}
	}
	if started != nil {
		op.StartedAt = *started
	}
	if approval != nil {
		op.Approval = new(domain.Approval)
		if err := json.Unmarshal(approval, op.Approval); err != nil {
			return op, fmt.Errorf("operation %s: decode approval: %w", op.ID, err)
		}
	}
	if ended != nil {
		op.EndedAt = *ended
	}
	if parent.Valid {
		op.ParentID = parent.Bytes
	}
	if steps != nil {
		if err := json.Unmarshal(steps, &op.Steps); err != nil {
			return op, fmt.Errorf("operation %s: decode steps: %w", op.ID, err)
		}
		// The KMS keys are sealed in params; the steps column names
		// Regions only.
		kms := map[string]string{}
		for _, p := range op.Params.Replicas {
			kms[p.Region] = p.KMSKeyID
		}
		for i := range op.Steps {
			for j := range op.Steps[i].Targets {
				op.Steps[i].Targets[j].KMSKeyID = kms[op.Steps[i].Targets[j].Region]
			}
		}
	}
	if lastCode != nil {
		op.LastAttemptError = &domain.Error{Code: *lastCode, Message: lastMsg}
	}
	if next != nil {
		op.NextAttemptAt = *next
	}
	if deadline != nil {
		op.RetryDeadline = *deadline
	}
	return op, nil
}

// encodeSteps is the steps column: nil for operations without steps, and
// no KMS key (those are sealed in params).
func encodeSteps(steps []domain.Step) ([]byte, error) {
	if steps == nil {
		return nil, nil
	}
	bare := make([]domain.Step, len(steps))
	for i, st := range steps {
		bare[i] = st
		bare[i].Targets = nil
		for _, t := range st.Targets {
			bare[i].Targets = append(bare[i].Targets, domain.ReplicaParam{Region: t.Region})
		}
	}
	b, err := json.Marshal(bare)
	if err != nil {
		return nil, fmt.Errorf("encode steps: %w", err)
	}
	return b, nil
}

// Children returns what a parent operation shows of its children, in
// creation order: id, secret key, state, error and steps. It reads no
// sealed params, AWS calls or intents: a failover parent has one child per
// secret and is read whenever its progress is (GetOperation, --wait), so
// the full rows would cost a decryption and several JSON decodes per
// secret per look. The steps carry no KMS key (those are sealed).
func (s *Store) Children(ctx context.Context, db DB, parent uuid.UUID) ([]domain.Operation, error) {
	rows, err := db.Query(ctx, `SELECT id, secret_key, state, error_code, coalesce(error_message, ''), steps
		FROM operations WHERE parent_id = $1 ORDER BY seq`, pgUUID(parent))
	if err != nil {
		return nil, fmt.Errorf("list children: %w", err)
	}
	defer rows.Close()
	var ops []domain.Operation
	for rows.Next() {
		var (
			op    domain.Operation
			code  *domain.Code
			msg   string
			steps []byte
		)
		if err := rows.Scan(&op.ID, &op.SecretKey, &op.State, &code, &msg, &steps); err != nil {
			return nil, fmt.Errorf("list children: %w", err)
		}
		op.ParentID = parent
		if code != nil {
			op.Error = &domain.Error{Code: *code, Message: msg}
		}
		if steps != nil {
			if err := json.Unmarshal(steps, &op.Steps); err != nil {
				return nil, fmt.Errorf("operation %s: decode steps: %w", op.ID, err)
			}
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list children: %w", err)
	}
	return ops, nil
}

// ChildStates counts a parent's children by state.
func ChildStates(ctx context.Context, db DB, parent uuid.UUID) (map[domain.State]int, error) {
	rows, err := db.Query(ctx, `SELECT state, count(*) FROM operations WHERE parent_id = $1 GROUP BY state`, pgUUID(parent))
	if err != nil {
		return nil, fmt.Errorf("count children: %w", err)
	}
	defer rows.Close()
	out := map[domain.State]int{}
	for rows.Next() {
		var st domain.State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count children: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// StrandedActive returns active operations whose queue job has ended or
// vanished without ending them (a job River discarded after panics, say).
// It reads River's job table: the one query here that does.
func (s *Store) StrandedActive(ctx context.Context, db DB, limit int) ([]domain.Operation, error) {
	rows, err := db.Query(ctx, `SELECT `+selectList("o.")+` FROM operations o
		LEFT JOIN river_job j ON j.id = o.job_id
		WHERE o.state IN ('pending', 'running') AND o.job_id IS NOT NULL
		  AND (j.id IS NULL OR j.state IN ('completed', 'cancelled', 'discarded'))
		ORDER BY o.seq LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("find stranded operations: %w", err)
	}
	defer rows.Close()
	var ops []domain.Operation
	for rows.Next() {
		op, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, rows.Err()
}

// HeadlessSecrets returns secrets with pending operations of which none
// carries a job, so nothing would ever start them.
func (s *Store) HeadlessSecrets(ctx context.Context, db DB, limit int) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT o.secret_key FROM operations o
		WHERE o.state = 'pending' AND o.job_id IS NULL
		  AND NOT EXISTS (SELECT 1 FROM operations h WHERE h.secret_key = o.secret_key
		                  AND h.state IN ('pending', 'running') AND h.job_id IS NOT NULL)
		LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("find headless secrets: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// HasActiveHead reports whether an active operation of the secret carries a
// job. Call it under LockSecret.
func (s *Store) HasActiveHead(ctx context.Context, db DB, secretKey string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM operations WHERE secret_key = $1
		AND state IN ('pending', 'running') AND job_id IS NOT NULL)`, secretKey).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check queue head: %w", err)
	}
	return ok, nil
}

// KindState is a (kind, state) pair, for counts.
type KindState struct {
	Kind  domain.Kind
	State domain.State
}

// OperationStats counts operations by kind and state and returns the
// creation time of the oldest PENDING one (zero when none).
func OperationStats(ctx context.Context, db DB) (map[KindState]int64, time.Time, error) {
	rows, err := db.Query(ctx, `SELECT kind, state, count(*) FROM operations GROUP BY kind, state`)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("count operations: %w", err)
	}
	counts := map[KindState]int64{}
	for rows.Next() {
		var k KindState
		var n int64
		if err := rows.Scan(&k.Kind, &k.State, &n); err != nil {
			rows.Close()
			return nil, time.Time{}, err
		}
		counts[k] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	var oldest *time.Time
	if err := db.QueryRow(ctx, `SELECT min(created_at) FROM operations WHERE state = 'pending'`).Scan(&oldest); err != nil {
		return nil, time.Time{}, fmt.Errorf("oldest pending operation: %w", err)
	}
	if oldest == nil {
		return counts, time.Time{}, nil
	}
	return counts, *oldest, nil
}

// pgUUID passes an id as the 16 bytes it is. uuid.UUID is a
// driver.Valuer, which pgx would send as text (and PostgreSQL parse back):
// 3% of the accepting path's CPU, measured in docs/BENCHMARKS.md.
func pgUUID(id uuid.UUID) pgtype.UUID {
	return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil}
}

// LockSecretsActive takes LockSecret's lock on each of keys, in sorted
// order (so that transactions locking several secrets cannot deadlock each
// other), then reports which of them have an operation that is PENDING or
// RUNNING. Like LockSecretHasActive it is one round trip whose check runs
// after every lock is held.
func (s *Store) LockSecretsActive(ctx context.Context, tx pgx.Tx, keys []string) (map[string]bool, error) {
	b := &pgx.Batch{}
	active := QueueLockSecretsActive(b, keys)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("lock secret queues and check active operations: %w", err)
	}
	return active, nil
}

// QueueLockSecretsActive queues LockSecretsActive's statements in b; the
// map it returns is filled in when the batch's results are read.
func QueueLockSecretsActive(b *pgx.Batch, keys []string) map[string]bool {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for _, k := range sorted {
		b.Queue(lockSecretSQL, k)
	}
	active := make(map[string]bool, len(sorted))
	// A custom plan for the check, every time. Its prepared statement is
	// first run on a table of a few rows, where a sequential scan is the
	// cheapest plan; PostgreSQL then caches that as the generic plan and,
	// until an ANALYZE invalidates it, scans the whole table on every
	// accept: under case 1 of the benchmark, 2-20 ms per batch and growing
	// with the table (auto_explain: Seq Scan, "Rows Removed by Filter:
	// 1616"), where the index probe costs a few buffers. Planning this
	// statement anew is cheaper than that. The setting is put back after
	// it: the inserts that follow keep their cached plans.
	b.Queue(`SET LOCAL plan_cache_mode = force_custom_plan`).Exec(func(pgconn.CommandTag) error { return nil })
	b.Queue(`SELECT DISTINCT secret_key FROM operations WHERE secret_key = ANY($1) AND state IN ('pending', 'running')`, sorted).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					return err
				}
				active[k] = true
			}
			return rows.Err()
		})
	b.Queue(`SET LOCAL plan_cache_mode = DEFAULT`).Exec(func(pgconn.CommandTag) error { return nil })
	return active
}

// QueueInsert queues Insert's statement in b: when the batch's results are
// read, op's Seq, CreatedAt and UpdatedAt are filled in, and a taken
// request_id fails the batch with ErrDuplicateRequestID.
func (s *Store) QueueInsert(b *pgx.Batch, op *domain.Operation) error {
	args, err := s.insertArgs(op)
	if err != nil {
		return err
	}
	b.Queue(insertSQL, args...).QueryRow(func(row pgx.Row) error {
		return insertErr(row.Scan(&op.Seq, &op.CreatedAt, &op.UpdatedAt))
	})
	return nil
}

// QueueSetApproval queues SetApproval's statement in b.
func (s *Store) QueueSetApproval(b *pgx.Batch, id uuid.UUID, a *domain.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode approval: %w", err)
	}
	b.Queue(setApprovalSQL, pgUUID(id), body, a.ExpiresAt).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return nil
	})
	return nil
}

// summaryColumns is what a summary of an operation holds (Recent): what
// Status shows of a secret's recent operations. Left out are the columns
// that only the operation's own page needs and that cost the most to read
// and decode: the AWS calls (a JSON array growing with every attempt),
// the in-flight intents (a subquery per row), steps, approval, the last
// attempt's error and retry times, the request's hash and trace.
const summaryColumns = `id, seq, kind, state, secret_key, secret_display, aws_region, params, regions, force, principal,
	coalesce(request_id, ''), reason_fingerprint, labels, error_code, coalesce(error_message, ''), attempts,
	created_at, updated_at, started_at, ended_at, coalesce(origin_policy, ''), parent_id`

// Ref names an operation and its state: what Status needs to know which
// recent operations it may take from the engine's cache of finished ones
// (immutable) and which it must read.
type Ref struct {
	ID    uuid.UUID
	State domain.State
}

// RecentRefs returns the ids and states of a secret's most recent
// operations, newest first: one index scan returning two narrow columns.
func RecentRefs(ctx context.Context, db DB, secretKey string, limit int) ([]Ref, error) {
	rows, err := db.Query(ctx, `SELECT id, state FROM operations WHERE secret_key = $1 ORDER BY seq DESC LIMIT $2`, secretKey, limit)
	if err != nil {
		return nil, fmt.Errorf("list recent operations: %w", err)
	}
	defer rows.Close()
	refs := make([]Ref, 0, max(0, min(limit, 100)))
	for rows.Next() {
		var r Ref
		if err := rows.Scan(&r.ID, &r.State); err != nil {
			return nil, fmt.Errorf("read operation ref: %w", err)
		}
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list recent operations: %w", err)
	}
	return refs, nil
}

// Summaries returns summaries (see summaryColumns) of the operations with
// the given ids that exist, in no particular order.
func (s *Store) Summaries(ctx context.Context, db DB, ids []uuid.UUID) ([]domain.Operation, error) {
	keys := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		keys[i] = pgUUID(id)
	}
	return s.summaries(ctx, db, `SELECT `+summaryColumns+` FROM operations WHERE id = ANY($1)`, len(ids), keys)
}

// Recent returns summaries of a secret's most recent operations, newest
// first (see summaryColumns). The parameters are still opened: they hold
// the secret id and the KMS keys shown, and what authorization reads.
func (s *Store) Recent(ctx context.Context, db DB, secretKey string, limit int) ([]domain.Operation, error) {
	return s.summaries(ctx, db, `SELECT `+summaryColumns+` FROM operations WHERE secret_key = $1 ORDER BY seq DESC LIMIT $2`, limit, secretKey, limit)
}

func (s *Store) summaries(ctx context.Context, db DB, sql string, limit int, args ...any) ([]domain.Operation, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list recent operations: %w", err)
	}
	defer rows.Close()
	// Sized once and scanned in place: an Operation is most of a kilobyte,
	// and growing the slice by appending copies made Status's largest
	// allocation.
	ops := make([]domain.Operation, 0, max(0, min(limit, 100)))
	for rows.Next() {
		ops = append(ops, domain.Operation{})
		op := &ops[len(ops)-1]
		var (
			sealed         []byte
			regions        []byte
			code           *domain.Code
			msg            string
			started, ended *time.Time
			parent         pgtype.UUID
		)
		err := rows.Scan(&op.ID, &op.Seq, &op.Kind, &op.State, &op.SecretKey, &op.SecretDisplay, &op.AWSRegion,
			&sealed, &regions, &op.Force, &op.Principal, &op.RequestID, &op.ReasonFingerprint, &op.Labels,
			&code, &msg, &op.Attempts, &op.CreatedAt, &op.UpdatedAt, &started, &ended, &op.OriginPolicy, &parent)
		if err != nil {
			return nil, fmt.Errorf("read operation: %w", err)
		}
		params, err := s.box.Open(sealed, op.ID[:])
		if err != nil {
			return nil, fmt.Errorf("operation %s: open params: %w", op.ID, err)
		}
		if err := json.Unmarshal(params, &op.Params); err != nil {
			return nil, fmt.Errorf("operation %s: decode params: %w", op.ID, err)
		}
		if err := json.Unmarshal(regions, &op.Regions); err != nil {
			return nil, fmt.Errorf("operation %s: decode regions: %w", op.ID, err)
		}
		if code != nil {
			op.Error = &domain.Error{Code: *code, Message: msg}
		}
		if started != nil {
			op.StartedAt = *started
		}
		if ended != nil {
			op.EndedAt = *ended
		}
		if parent.Valid {
			op.ParentID = parent.Bytes
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list recent operations: %w", err)
	}
	return ops, nil
}
