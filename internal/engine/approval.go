package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

// ApprovalSweepDefault is how often expired approvals are looked for: an
// expiry is acted on at most this late.
const ApprovalSweepDefault = 5 * time.Second

// Errors of ApproveOperation, mapped to API errors by the server.
var (
	// ErrSelfApproval: the requester tried to approve their own operation.
	ErrSelfApproval = errors.New("the requester cannot approve their own operation")
	// ErrNotApprover: the caller is in none of the approver groups.
	ErrNotApprover = errors.New("caller is not in an approver group for this operation")
	// ErrNotAwaitingApproval: the operation needs no (more) approval.
	ErrNotAwaitingApproval = errors.New("operation is not awaiting approval")
	// ErrApprovalExpired: the approval window closed.
	ErrApprovalExpired = errors.New("operation's approval expired")
)

// Audit event kinds and methods of the approval lifecycle.
const (
	AuditKindApproval   = "approval"
	AuditKindBreakGlass = "break_glass"

	ApprovalRequested = "approval.requested"
	ApprovalGranted   = "approval.granted"
	ApprovalRefused   = "approval.refused"
	ApprovalExpired   = "approval.expired"
	ApprovalBypassed  = "approval.break_glass"
)

// ApprovalEvent is one step of an operation's approval, for the audit trail.
type ApprovalEvent struct {
	// Kind is AuditKindApproval or AuditKindBreakGlass.
	Kind string
	// Method is one of the Approval* event names.
	Method      string
	Principal   string
	OperationID uuid.UUID
	// Secret is the secret as displayed (account fingerprinted).
	Secret  string
	Code    domain.Code
	Message string
}

// ApprovalAuditor records approval events (package audit's Trail).
type ApprovalAuditor interface {
	RecordApproval(ctx context.Context, ev ApprovalEvent) error
	// ApprovalRow is ev's row, for an event the engine stores in the
	// transaction making the change it records, and ApprovalStored is
	// called once that transaction committed.
	ApprovalRow(ev ApprovalEvent) (store.AuditRow, error)
	ApprovalStored(row store.AuditRow)
}

func (e *Engine) auditApproval(ctx context.Context, ev ApprovalEvent) {
	if e.cfg.Auditor == nil {
		return
	}
	if err := e.cfg.Auditor.RecordApproval(ctx, ev); err != nil {
		e.log.ErrorContext(ctx, "approval event not audited", "operation", ev.OperationID, "method", ev.Method, "error", err)
	}
}

// approvalRequested audits an accepted operation that needed approval:
// waiting for it, or released by break-glass (loudly).
func (e *Engine) approvalRequested(ctx context.Context, op domain.Operation) {
	a := op.Approval
	if a == nil {
		return
	}
	if a.BreakGlass {
		e.log.WarnContext(ctx, "BREAK-GLASS: operation runs without two-person approval",
			"operation", op.ID, "kind", op.Kind, "principal", op.Principal, "secret", op.SecretDisplay, "approval_rule", a.Rule)
		e.auditApproval(ctx, ApprovalEvent{Kind: AuditKindBreakGlass, Method: ApprovalBypassed, Principal: op.Principal,
			OperationID: op.ID, Secret: op.SecretDisplay,
			Message: fmt.Sprintf("break-glass token presented: %s runs without approval (rule %q)", op.Kind, a.Rule)})
		return
	}
	e.auditApproval(ctx, ApprovalEvent{Kind: AuditKindApproval, Method: ApprovalRequested, Principal: op.Principal,
		OperationID: op.ID, Secret: op.SecretDisplay,
		Message: fmt.Sprintf("%s awaits approval by a member of %v until %s (rule %q)", op.Kind, a.ApproverGroups,
			a.ExpiresAt.UTC().Format(time.RFC3339), a.Rule)})
}

// Approve records principal's approval of an operation awaiting it and
// releases it into its secret's queue. The requester never approves their
// own operation; the approver must be a member of one of its approver
// groups. Every outcome, refusals included, is audited.
func (e *Engine) Approve(ctx context.Context, id uuid.UUID, principal string, groups []string) (domain.Operation, error) {
	op, err := e.store.Get(ctx, e.api, id)
	if err != nil {
		return domain.Operation{}, err
	}
	err = pgx.BeginTxFunc(ctx, e.api, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		// Lock order everywhere: the secret's queue lock, then the row.
		active, err := e.store.LockSecretHasActive(ctx, tx, op.SecretKey)
		if err != nil {
			return err
		}
		if op, err = e.store.GetForUpdate(ctx, tx, id); err != nil {
			return err
		}
		a := op.Approval
		switch {
		case op.State != domain.StateAwaitingApproval || a == nil:
			return ErrNotAwaitingApproval
		case !time.Now().Before(a.ExpiresAt):
			return ErrApprovalExpired
		case principal == a.Requester || principal == op.Principal:
			return ErrSelfApproval
		case !slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(a.ApproverGroups, g) }):
			return ErrNotApprover
		}
		a.Approvals = append(a.Approvals, domain.ApprovedBy{Principal: principal, Time: time.Now()})
		op.State = domain.StatePending
		if !active {
			if op.JobID, err = e.enqueue(ctx, tx, op); err != nil {
				return err
			}
		}
		if err := e.store.Update(ctx, tx, &op); err != nil {
			return err
		}
		return e.store.SetApproval(ctx, tx, op.ID, a)
	})
	ev := ApprovalEvent{Kind: AuditKindApproval, Principal: principal, OperationID: id, Secret: op.SecretDisplay}
	switch {
	case err == nil:
		ev.Method, ev.Message = ApprovalGranted, fmt.Sprintf("approved %s requested by %s", op.Kind, op.Principal)
	case errors.Is(err, ErrSelfApproval), errors.Is(err, ErrNotApprover), errors.Is(err, ErrApprovalExpired),
		errors.Is(err, ErrNotAwaitingApproval):
		ev.Method, ev.Code, ev.Message = ApprovalRefused, domain.CodePermissionDenied, "refused: "+err.Error()
		if !errors.Is(err, ErrSelfApproval) && !errors.Is(err, ErrNotApprover) {
			ev.Code = domain.CodeFailedPrecondition
		}
	default:
		return domain.Operation{}, err
	}
	e.auditApproval(ctx, ev)
	if err != nil {
		return domain.Operation{}, err
	}
	return op, nil
}

// approvalExpiryLoop cancels operations whose approval expired. The expiry
// is a column, so whichever process sweeps first acts on it, after any
// restart; each cancellation locks and re-reads its row, so two sweepers
// (or a racing approval) never both act.
func (e *Engine) approvalExpiryLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.ApprovalSweep)
	defer t.Stop()
	for {
		if err := e.ExpireApprovals(ctx); err != nil && ctx.Err() == nil {
			e.log.ErrorContext(ctx, "approval expiry sweep", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExpireApprovals cancels every operation whose approval window closed,
// and returns once they are cancelled.
func (e *Engine) ExpireApprovals(ctx context.Context) error {
	for {
		ops, err := e.store.ExpiredApprovals(ctx, e.api, time.Now(), 100)
		if err != nil || len(ops) == 0 {
			return err
		}
		for _, op := range ops {
			if err := e.expire(ctx, op); err != nil {
				return err
			}
		}
	}
}

func (e *Engine) expire(ctx context.Context, op domain.Operation) error {
	expired := false
	var row store.AuditRow
	err := pgx.BeginFunc(ctx, e.api, func(tx pgx.Tx) error {
		expired = false
		cur, err := e.store.GetForUpdate(ctx, tx, op.ID)
		if err != nil {
			return err
		}
		if cur.State != domain.StateAwaitingApproval || cur.Approval == nil || time.Now().Before(cur.Approval.ExpiresAt) {
			return nil // approved or cancelled meanwhile
		}
		cur.State, cur.EndedAt = domain.StateCancelled, time.Now()
		cur.Error = &domain.Error{Code: domain.CodeCancelled, Message: fmt.Sprintf(
			"approval expired: no member of %v approved it by %s", cur.Approval.ApproverGroups,
			cur.Approval.ExpiresAt.UTC().Format(time.RFC3339))}
		settleRegions(&cur)
		op, expired = cur, true
		if err := e.store.Update(ctx, tx, &cur); err != nil {
			return err
		}
		if e.cfg.Auditor == nil {
			return nil
		}
		// The expiry's event commits with the cancellation: a caller who
		// sees the operation cancelled and then asks to approve it must
		// find the expiry before its refusal in the trail, which an event
		// recorded after the commit would race.
		row, err = e.cfg.Auditor.ApprovalRow(ApprovalEvent{Kind: AuditKindApproval, Method: ApprovalExpired, Principal: cur.Principal,
			OperationID: cur.ID, Secret: cur.SecretDisplay, Code: domain.CodeCancelled, Message: cur.Error.Message})
		if err != nil {
			return err
		}
		return store.InsertAuditEvents(ctx, tx, []store.AuditRow{row})
	})
	if err != nil {
		return fmt.Errorf("expire approval of %s: %w", op.ID, err)
	}
	if !expired {
		return nil
	}
	if e.cfg.Auditor != nil {
		e.cfg.Auditor.ApprovalStored(row)
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.OperationFinished(op)
	}
	return nil
}
