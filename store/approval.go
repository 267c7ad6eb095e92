package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
)

// SetApproval writes an operation's approval record, and the expiry the
// sweep looks for while the operation awaits approval.
func (s *Store) SetApproval(ctx context.Context, db DB, id uuid.UUID, a *domain.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode approval: %w", err)
	}
	tag, err := db.Exec(ctx, setApprovalSQL, pgUUID(id), body, a.ExpiresAt)
	if err != nil {
		return fmt.Errorf("set approval: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

const setApprovalSQL = `UPDATE operations SET approval = $2, approval_expires_at = $3 WHERE id = $1`

// ExpiredApprovals returns operations still awaiting approval whose
// approval expired at or before now, soonest first.
func (s *Store) ExpiredApprovals(ctx context.Context, db DB, now time.Time, limit int) ([]domain.Operation, error) {
	rows, err := db.Query(ctx, `SELECT `+columns+` FROM operations
		WHERE state = 'awaiting_approval' AND approval_expires_at <= $1
		ORDER BY approval_expires_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("expired approvals: %w", err)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expired approvals: %w", err)
	}
	return ops, nil
}
