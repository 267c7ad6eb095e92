package server

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/metadata"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/validate"
)

// BreakGlassHeader carries a break-glass token with a request that would
// otherwise wait for approval: gRPC metadata, or the same HTTP header on
// REST. Its value is a credential: it is never logged or audited.
const BreakGlassHeader = "x-replicad-break-glass"

// ApprovalPolicy says which operations need a second person's approval
// (package access's Store).
type ApprovalPolicy interface {
	ApprovalFor(action, secret string) (access.Approval, bool)
}

// approvalPolicyOf uses the Authorizer's approvals when it has them.
func approvalPolicyOf(a Authorizer) ApprovalPolicy {
	p, _ := a.(ApprovalPolicy)
	return p
}

// approvalFor returns the approval an operation of action on secret needs,
// or nil. A valid break-glass token presented with the request marks it
// released at once (the engine logs and audits that loudly).
func (s *replicationService) approvalFor(ctx context.Context, action, secret string) *domain.Approval {
	if s.approvals == nil {
		return nil
	}
	need, ok := s.approvals.ApprovalFor(action, secret)
	if !ok {
		return nil
	}
	a := &domain.Approval{
		Rule:           need.Rule,
		Requester:      CallerFrom(ctx).Principal,
		ApproverGroups: need.Approvers,
		ExpiresAt:      time.Now().Add(need.ExpiresAfter),
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(BreakGlassHeader); len(v) > 0 && need.BreakGlass(v[0]) {
		a.BreakGlass = true
	}
	return a
}

func (s *replicationService) ApproveOperation(ctx context.Context, req *replicadv1.ApproveOperationRequest) (*replicadv1.ApproveOperationResponse, error) {
	if err := validate.OperationID("id", req.GetId()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if err := validate.CancelReason(req.GetReason()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	id := uuid.MustParse(req.GetId())
	if s.authz != nil {
		op, err := s.engine.Get(ctx, id)
		if err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
		if !s.readable(ctx, op) {
			return nil, s.errs.toStatus(ctx, engine.ErrNotFound)
		}
		if err := authorize(ctx, s.authz, access.ActionOperationsApprove, op.Params.SecretID, regionsOf(op)); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
	}
	c := CallerFrom(ctx)
	op, err := s.engine.Approve(ctx, id, c.Principal, c.Groups)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.ApproveOperationResponse{Operation: operationToProto(op)}, nil
}

func approvalToProto(a *domain.Approval) *replicadv1.Approval {
	if a == nil {
		return nil
	}
	out := &replicadv1.Approval{
		Rule:           a.Rule,
		Requester:      a.Requester,
		ApproverGroups: a.ApproverGroups,
		ExpireTime:     ts(a.ExpiresAt),
		BreakGlass:     a.BreakGlass,
	}
	for _, b := range a.Approvals {
		out.Approvers = append(out.Approvers, &replicadv1.ApprovedBy{Principal: b.Principal, ApproveTime: ts(b.Time)})
	}
	return out
}
