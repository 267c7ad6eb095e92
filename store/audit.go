package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/replicad/replicad/internal/domain"
)

// AuditRow is one row of audit_events. Body is the canonical event content,
// exactly as hashed; the other fields project it.
type AuditRow struct {
	Seq           int64
	ID            uuid.UUID
	Time          time.Time
	Kind          string
	Principal     string
	Method        string
	Secret        string
	Code          int32
	OperationID   uuid.UUID // uuid.Nil when none
	RequestID     string
	ClientAddress string
	Transport     string
	AWSRegion     string
	AWSRequestID  string
	Body          string
	// Chain fields, zero while unchained.
	ChainPos int64
	PrevHash []byte
	Hash     []byte
}

const auditColumns = `seq, id, time, kind, principal, method, secret, code, operation_id, request_id,
	client_address, transport, aws_region, aws_request_id, body, coalesce(chain_pos, 0), prev_hash, hash`

// InsertAuditEvents appends events in one round trip. Rows with a
// ChainPos are stored chained (their caller holds the chain lock: see
// audit.Writer); the others wait for the chainer.
func InsertAuditEvents(ctx context.Context, db DB, rows []AuditRow) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := db.Exec(ctx, insertAuditSQL, insertAuditArgs(rows)...); err != nil {
		return fmt.Errorf("insert audit events: %w", err)
	}
	return nil
}

// QueueInsertAuditEvents queues InsertAuditEvents' statement in b.
func QueueInsertAuditEvents(b *pgx.Batch, rows []AuditRow) {
	if len(rows) == 0 {
		return
	}
	b.Queue(insertAuditSQL, insertAuditArgs(rows)...).Exec(func(pgconn.CommandTag) error { return nil })
}

// AuditChainLockKey is the advisory lock serialising the audit chain
// across replicad processes: whoever holds it reads the head and appends
// after it, and holds it until that append has committed.
const AuditChainLockKey int64 = 0x5d1c2a7f3b9e4411

// QueueInsertAuditEventsChained queues in b, inside a transaction, the
// insert of rows linked into the chain if the chain lock is free: the lock
// is tried, not waited for, and the head read and each row's hash computed
// in the insert, so linking costs no round trip of its own. Used by the
// accepting transactions (engine), whose events would otherwise all be
// written twice: inserted unchained, then updated by the Chainer. Waiting
// for the lock instead would serialise the accepts' commits, since it is
// held until its holder commits: in case 1 of the benchmark the accepts
// then spent 26 ms per transaction in that wait. When the lock is taken
// (by another accepting transaction, or the audit Writer), the rows are
// inserted unchained, as before, and the Chainer links them. The hash is
// audit.Link's, sha256(prev || body), over the body's UTF-8 bytes.
//
// Crash safety is audit.Writer's: the insert's snapshot is taken after the
// lock is granted (a statement of its own), so the head it reads is the
// newest any committed transaction holds, and the positions commit with
// the rows or not at all.
func QueueInsertAuditEventsChained(b *pgx.Batch, rows []AuditRow) {
	if len(rows) == 0 {
		return
	}
	// The outcome of the try, for the insert: a transaction-local setting
	// (a second try in the insert could succeed after its snapshot was
	// taken, and read a stale head).
	b.Queue(`SELECT set_config('replicad.audit_chain_locked', pg_try_advisory_xact_lock($1)::text, true)`, AuditChainLockKey).
		Exec(func(pgconn.CommandTag) error { return nil })
	b.Queue(insertAuditChainedSQL, insertAuditArgs(rows)[:14]...).Exec(func(tag pgconn.CommandTag) error {
		if int(tag.RowsAffected()) != len(rows) {
			return fmt.Errorf("insert audit events: %d of %d stored", tag.RowsAffected(), len(rows))
		}
		return nil
	})
}

// insertAuditChainedSQL links the rows after the head (AuditHead's query;
// genesis, 32 zero bytes, before the first event) by a recursive walk in
// row order, when the lock was granted; otherwise the walk is empty and
// the rows are stored unchained.
const insertAuditChainedSQL = `WITH RECURSIVE
	r AS (SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[],
		$8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) WITH ORDINALITY
		AS r(id, time, kind, principal, method, secret, code, operation_id, request_id, client_address, transport,
			aws_region, aws_request_id, body, i)),
	head AS (SELECT coalesce(max(chain_pos), 0) AS pos, coalesce((array_agg(hash ORDER BY chain_pos DESC))[1],
			decode(repeat('00', 32), 'hex')) AS hash FROM (
		(SELECT chain_pos, hash FROM audit_events WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1)
		UNION ALL
		(SELECT chain_pos, hash FROM audit_anchors ORDER BY chain_pos DESC LIMIT 1)) h
		HAVING current_setting('replicad.audit_chain_locked', true) = 'true'),
	c(i, pos, prev, hash) AS (
		SELECT 0::bigint, pos, NULL::bytea, hash FROM head
		UNION ALL
		SELECT c.i + 1, c.pos + 1, c.hash, sha256(c.hash || convert_to(r.body, 'UTF8')) FROM c JOIN r ON r.i = c.i + 1)
	INSERT INTO audit_events (id, time, kind, principal, method, secret, code, operation_id,
		request_id, client_address, transport, aws_region, aws_request_id, body, chain_pos, prev_hash, hash)
	SELECT r.id, r.time, r.kind, r.principal, r.method, r.secret, r.code, r.operation_id, r.request_id, r.client_address,
		r.transport, r.aws_region, r.aws_request_id, r.body, c.pos, c.prev, c.hash
	FROM r LEFT JOIN c ON c.i = r.i ORDER BY r.i`

// insertAuditSQL takes one array per column, whatever the number of rows:
// one statement text, so one prepared statement per connection, where a
// VALUES list per batch size made up to a batch's worth of distinct
// statements, each parsed, planned and prepared on each connection.
const insertAuditSQL = `INSERT INTO audit_events (id, time, kind, principal, method, secret, code, operation_id,
		request_id, client_address, transport, aws_region, aws_request_id, body, chain_pos, prev_hash, hash)
	SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[],
		$8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[],
		$16::bytea[], $17::bytea[])`

func insertAuditArgs(rows []AuditRow) []any {
	n := len(rows)
	var (
		ids, ops                                  = make([]pgtype.UUID, n), make([]pgtype.UUID, n)
		times                                     = make([]time.Time, n)
		kinds, principals, methods, secrets       = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		codes                                     = make([]int32, n)
		requestIDs, addrs, transports, awsRegions = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		awsRequestIDs, bodies                     = make([]string, n), make([]string, n)
		positions                                 = make([]pgtype.Int8, n)
		prevs, hashes                             = make([][]byte, n), make([][]byte, n)
	)
	for i, r := range rows {
		ids[i], times[i], kinds[i], principals[i], methods[i], secrets[i] = pgUUID(r.ID), r.Time, r.Kind, r.Principal, r.Method, r.Secret
		codes[i], ops[i], requestIDs[i], addrs[i], transports[i] = r.Code, pgUUID(r.OperationID), r.RequestID, r.ClientAddress, r.Transport
		awsRegions[i], awsRequestIDs[i], bodies[i] = r.AWSRegion, r.AWSRequestID, r.Body
		if r.ChainPos != 0 {
			positions[i], prevs[i], hashes[i] = pgtype.Int8{Int64: r.ChainPos, Valid: true}, r.PrevHash, r.Hash
		}
	}
	return []any{ids, times, kinds, principals, methods, secrets, codes, ops, requestIDs, addrs, transports, awsRegions,
		awsRequestIDs, bodies, positions, prevs, hashes}
}

// AuditHead returns the chain's last position and hash: the newest chained
// event, else the newest retention anchor, else position 0 and no hash.
func AuditHead(ctx context.Context, db DB) (int64, []byte, error) {
	var pos int64
	var hash []byte
	// The limit sits inside each branch: over the UNION ALL, PostgreSQL
	// plans a sequential scan and a sort of the whole table (200 ms at a
	// million events); per branch, each is one index probe.
	err := db.QueryRow(ctx, `SELECT chain_pos, hash FROM (
			(SELECT chain_pos, hash FROM audit_events WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1)
			UNION ALL
			(SELECT chain_pos, hash FROM audit_anchors ORDER BY chain_pos DESC LIMIT 1)
		) h ORDER BY chain_pos DESC LIMIT 1`).Scan(&pos, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read audit chain head: %w", err)
	}
	return pos, hash, nil
}

// UnchainedAuditEvents returns events awaiting a chain position, oldest
// first.
func UnchainedAuditEvents(ctx context.Context, db DB, limit int) ([]AuditRow, error) {
	return queryAudit(ctx, db, `SELECT `+auditColumns+` FROM audit_events WHERE chain_pos IS NULL ORDER BY seq LIMIT $1`, limit)
}

// CountUnchainedAuditEvents counts events awaiting a chain position.
func CountUnchainedAuditEvents(ctx context.Context, db DB) (int64, error) {
	var n int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE chain_pos IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unchained audit events: %w", err)
	}
	return n, nil
}

// LinkAuditEvents sets the chain fields of events (by seq).
func LinkAuditEvents(ctx context.Context, db DB, seqs, positions []int64, prevs, hashes [][]byte) error {
	_, err := db.Exec(ctx, `UPDATE audit_events e SET chain_pos = l.pos, prev_hash = l.prev, hash = l.hash
		FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS l(seq, pos, prev, hash)
		WHERE e.seq = l.seq`, seqs, positions, prevs, hashes)
	if err != nil {
		return fmt.Errorf("link audit events: %w", err)
	}
	return nil
}

// AuditAnchor is where retention cut the chain: the events from FirstPos to
// ChainPos were exported to ExportedTo (a file name in the export
// directory) and removed. Anchors are chained: AnchorHash covers
// PrevAnchorHash and the anchor's own fields (the database computes it on
// insert).
type AuditAnchor struct {
	ChainPos   int64
	Hash       []byte
	FirstPos   int64
	Pruned     int64
	ExportedTo string
	// ExportSHA256 is the export file's SHA-256; nil for anchors made
	// before files were hashed.
	ExportSHA256   []byte
	PrevAnchorHash []byte
	AnchorHash     []byte
}

const anchorColumns = `chain_pos, hash, first_pos, pruned, exported_to, export_sha256, prev_anchor_hash, anchor_hash`

func scanAnchor(row pgx.Row) (AuditAnchor, error) {
	var a AuditAnchor
	err := row.Scan(&a.ChainPos, &a.Hash, &a.FirstPos, &a.Pruned, &a.ExportedTo, &a.ExportSHA256, &a.PrevAnchorHash, &a.AnchorHash)
	return a, err
}

// LatestAuditAnchor returns the newest anchor, or ok=false.
func LatestAuditAnchor(ctx context.Context, db DB) (AuditAnchor, bool, error) {
	a, err := scanAnchor(db.QueryRow(ctx, `SELECT `+anchorColumns+` FROM audit_anchors ORDER BY chain_pos DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("read audit anchor: %w", err)
	}
	return a, true, nil
}

// AuditAnchors returns every anchor, oldest first (one per retention
// batch: few).
func AuditAnchors(ctx context.Context, db DB) ([]AuditAnchor, error) {
	rows, err := db.Query(ctx, `SELECT `+anchorColumns+` FROM audit_anchors ORDER BY chain_pos`)
	if err != nil {
		return nil, fmt.Errorf("read audit anchors: %w", err)
	}
	defer rows.Close()
	var out []AuditAnchor
	for rows.Next() {
		a, err := scanAnchor(rows)
		if err != nil {
			return nil, fmt.Errorf("read audit anchor: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// FirstChainedAuditPosition returns the lowest chain position still in the
// table, or ok=false when none is.
func FirstChainedAuditPosition(ctx context.Context, db DB) (int64, bool, error) {
	var pos *int64
	if err := db.QueryRow(ctx, `SELECT min(chain_pos) FROM audit_events`).Scan(&pos); err != nil {
		return 0, false, fmt.Errorf("read first audit position: %w", err)
	}
	if pos == nil {
		return 0, false, nil
	}
	return *pos, true, nil
}

// WalkAuditChain calls fn for each chained event after position from, in
// chain order, streaming.
func WalkAuditChain(ctx context.Context, db DB, from int64, fn func(AuditRow) error) error {
	rows, err := db.Query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE chain_pos > $1 ORDER BY chain_pos`, from)
	if err != nil {
		return fmt.Errorf("walk audit chain: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PrunableAuditEvents returns chained events older than before, in chain
// order, from the start of what remains, at most limit.
func PrunableAuditEvents(ctx context.Context, db DB, before time.Time, limit int) ([]AuditRow, error) {
	return queryAudit(ctx, db, `SELECT `+auditColumns+` FROM audit_events
		WHERE chain_pos IS NOT NULL AND chain_pos <= coalesce(
			(SELECT min(chain_pos) - 1 FROM audit_events WHERE chain_pos IS NOT NULL AND time >= $1),
			(SELECT max(chain_pos) FROM audit_events))
		ORDER BY chain_pos LIMIT $2`, before, limit)
}

// PruneAuditEvents records the anchor at chainPos (the last event removed,
// with its hash) naming the export file and its SHA-256, and deletes the
// chained events up to it, in tx: audit_prune() is the only way the
// table's guard lets events go. It returns how many were removed.
func PruneAuditEvents(ctx context.Context, tx pgx.Tx, chainPos int64, hash []byte, exportedTo string, exportSHA256 []byte) (int64, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT audit_prune($1, $2, $3, $4)`, chainPos, hash, exportedTo, exportSHA256).Scan(&n); err != nil {
		return 0, fmt.Errorf("prune audit events: %w", err)
	}
	return n, nil
}

// ListAuditEvents returns events newest first. secret is the filter's
// secret in the redacted form events record it ("" for any).
func ListAuditEvents(ctx context.Context, db DB, f domain.AuditFilter, secret string) ([]AuditRow, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.Start.IsZero() {
		add("time >= ?", f.Start)
	}
	if !f.End.IsZero() {
		add("time < ?", f.End)
	}
	if f.Principal != "" {
		add("principal = ?", f.Principal)
	}
	if secret != "" {
		add("secret = ?", secret)
	}
	if len(f.Methods) > 0 {
		add("method = ANY(?)", f.Methods)
	}
	if f.Code != nil {
		add("code = ?", *f.Code)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.OperationID != uuid.Nil {
		add("operation_id = ?", pgUUID(f.OperationID))
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += " ORDER BY seq DESC LIMIT $" + strconv.Itoa(len(args))
	return queryAudit(ctx, db, q, args...)
}

func queryAudit(ctx context.Context, db DB, q string, args ...any) ([]AuditRow, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanAudit(rows pgx.Rows) (AuditRow, error) {
	var r AuditRow
	var op *uuid.UUID
	err := rows.Scan(&r.Seq, &r.ID, &r.Time, &r.Kind, &r.Principal, &r.Method, &r.Secret, &r.Code, &op,
		&r.RequestID, &r.ClientAddress, &r.Transport, &r.AWSRegion, &r.AWSRequestID, &r.Body, &r.ChainPos, &r.PrevHash, &r.Hash)
	if err != nil {
		return r, fmt.Errorf("read audit event: %w", err)
	}
	if op != nil {
		r.OperationID = *op
	}
	return r, nil
}
