package server

import (
	"context"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/validate"
)

// Engine is what the replication service needs from the operations engine.
type Engine interface {
	Submit(ctx context.Context, s engine.Submission) (domain.Operation, bool, error)
	Cancel(ctx context.Context, id uuid.UUID) (domain.Operation, error)
	Get(ctx context.Context, id uuid.UUID) (domain.Operation, error)
	List(ctx context.Context, f domain.OperationFilter) ([]domain.Operation, error)
	Status(ctx context.Context, principal string, id secretid.ID, region string, recent int) (domain.Secret, []domain.Operation, error)
	Approve(ctx context.Context, id uuid.UUID, principal string, groups []string) (domain.Operation, error)
}

type replicationService struct {
	replicadv1.UnimplementedReplicationServiceServer
	engine Engine
	rules  *validate.Rules
	red    *redact.Redactor
	errs   errorMapper
	authz  Authorizer
	// approvals says which operations need a second person; nil: none.
	approvals ApprovalPolicy
}

// Authorization comes before validation: a caller the policy refuses
// learns nothing about what else is wrong with its request.

func (s *replicationService) Replicate(ctx context.Context, req *replicadv1.ReplicateRequest) (*replicadv1.ReplicateResponse, error) {
	var targets []string
	for _, r := range req.GetRegions() {
		targets = append(targets, r.GetRegion())
	}
	if err := authorize(ctx, s.authz, access.ActionReplicate, req.GetSecretId(), targets); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if req.GetReplaceKmsKey() {
		// Replacing a replica's key removes the replica first: a caller
		// who may not remove it may not do that either.
		if err := authorize(ctx, s.authz, access.ActionRemove, req.GetSecretId(), targets); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
	}
	t, err := s.rules.Replicate(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	sub := s.submission(ctx, domain.KindReplicate, "Replicate", req, t.ID, req.GetRequestId(), req.GetReason(), req.GetLabels())
	sub.AWSRegion, sub.Force = t.PrimaryRegion, req.GetForceOverwriteReplicaSecret()
	sub.ValidateOnly = req.GetValidateOnly()
	sub.ReplaceKMSKey = req.GetReplaceKmsKey()
	for _, r := range req.GetRegions() {
		sub.Replicas = append(sub.Replicas, domain.ReplicaParam{Region: r.GetRegion(), KMSKeyID: r.GetKmsKeyId()})
	}
	op, _, err := s.engine.Submit(ctx, sub)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.ReplicateResponse{Operation: operationToProto(op)}, nil
}

func (s *replicationService) Remove(ctx context.Context, req *replicadv1.RemoveRequest) (*replicadv1.RemoveResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionRemove, req.GetSecretId(), req.GetRegions()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	t, err := s.rules.Remove(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	sub := s.submission(ctx, domain.KindRemove, "Remove", req, t.ID, req.GetRequestId(), req.GetReason(), req.GetLabels())
	sub.AWSRegion = t.PrimaryRegion
	for _, r := range req.GetRegions() {
		sub.Replicas = append(sub.Replicas, domain.ReplicaParam{Region: r})
	}
	op, _, err := s.engine.Submit(ctx, sub)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.RemoveResponse{Operation: operationToProto(op)}, nil
}

func (s *replicationService) Promote(ctx context.Context, req *replicadv1.PromoteRequest) (*replicadv1.PromoteResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionPromote, req.GetSecretId(), []string{req.GetRegion()}); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	t, err := s.rules.Promote(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	sub := s.submission(ctx, domain.KindPromote, "Promote", req, t.ID, req.GetRequestId(), req.GetReason(), req.GetLabels())
	// StopReplicationToReplica is called in the replica's Region.
	sub.AWSRegion, sub.Force = req.GetRegion(), req.GetForce()
	sub.Replicas = []domain.ReplicaParam{{Region: req.GetRegion()}}
	sub.Approval = s.approvalFor(ctx, access.ActionPromote, req.GetSecretId())
	op, _, err := s.engine.Submit(ctx, sub)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.PromoteResponse{Operation: operationToProto(op)}, nil
}

func (s *replicationService) Status(ctx context.Context, req *replicadv1.StatusRequest) (*replicadv1.StatusResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionStatus, req.GetSecretId(), nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	t, err := s.rules.Status(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	n := int(req.GetRecentOperations())
	if n == 0 {
		n = validate.DefaultRecentOps
	}
	sec, ops, err := s.engine.Status(ctx, CallerFrom(ctx).Principal, t.ID, t.PrimaryRegion, n)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	resp := secretToProto(sec)
	for _, op := range ops {
		if s.readable(ctx, op) {
			resp.RecentOperations = append(resp.RecentOperations, operationToProto(op))
		}
	}
	return resp, nil
}

func (s *replicationService) GetOperation(ctx context.Context, req *replicadv1.GetOperationRequest) (*replicadv1.GetOperationResponse, error) {
	if err := validate.OperationID("id", req.GetId()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	op, err := s.engine.Get(ctx, uuid.MustParse(req.GetId()))
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if !s.readable(ctx, op) {
		// What the caller may not read does not exist for it.
		return nil, s.errs.toStatus(ctx, engine.ErrNotFound)
	}
	return &replicadv1.GetOperationResponse{Operation: operationToProto(op)}, nil
}

func (s *replicationService) ListOperations(ctx context.Context, req *replicadv1.ListOperationsRequest) (*replicadv1.ListOperationsResponse, error) {
	id, err := s.rules.ListOperations(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if req.GetSecretId() != "" {
		if err := authorize(ctx, s.authz, access.ActionOperationsRead, req.GetSecretId(), nil); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
	}
	f := domain.OperationFilter{SecretKey: id.Key(), State: stateFromProto(req.GetState())}
	digest := filterDigest(f.SecretKey, string(f.State))
	if tok := req.GetPageToken(); tok != "" {
		t, err := decodePageToken(tok, digest)
		if err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
		f.BeforeSeq = t.beforeSeq
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = validate.DefaultPageSize
	case size > validate.MaxPageSize:
		size = validate.MaxPageSize
	}
	// Operations the caller may not read are left out; the page is filled
	// from further rows, scanning a bounded number of them per call, and
	// the token resumes after the last row scanned.
	resp := &replicadv1.ListOperationsResponse{}
	const maxScans = 8
	for scan := 0; scan < maxScans; scan++ {
		f.Limit = size + 1 // one more row says whether another page follows
		ops, err := s.engine.List(ctx, f)
		if err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
		for i, op := range ops {
			if i == size || len(resp.Operations) == size {
				resp.NextPageToken = pageToken{beforeSeq: f.BeforeSeq, filter: digest}.encode()
				return resp, nil
			}
			f.BeforeSeq = op.Seq
			if s.readable(ctx, op) {
				resp.Operations = append(resp.Operations, operationToProto(op))
			}
		}
		if len(ops) <= size {
			return resp, nil // the table is exhausted
		}
	}
	resp.NextPageToken = pageToken{beforeSeq: f.BeforeSeq, filter: digest}.encode()
	return resp, nil
}

func (s *replicationService) CancelOperation(ctx context.Context, req *replicadv1.CancelOperationRequest) (*replicadv1.CancelOperationResponse, error) {
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
		if err := authorize(ctx, s.authz, access.ActionOperationsCancel, op.Params.SecretID, regionsOf(op)); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
	}
	op, err := s.engine.Cancel(ctx, id)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.CancelOperationResponse{Operation: operationToProto(op)}, nil
}

// submission fills what every mutating request shares.
func (s *replicationService) submission(ctx context.Context, kind domain.Kind, method string, req proto.Message,
	id secretid.ID, requestID, reason string, labels map[string]string) engine.Submission {
	sub := engine.Submission{
		Kind:      kind,
		Secret:    id,
		Principal: CallerFrom(ctx).Principal,
		RequestID: requestID,
	}
	if a := acceptAudit(ctx); a != nil {
		sub.Audit = a
	}
	if requestID != "" {
		sub.Canonical = canonical(method, req)
	}
	if reason != "" {
		sub.ReasonFingerprint = s.red.Fingerprint(reason)
	}
	if len(labels) > 0 {
		sub.Labels = make(map[string]string, len(labels))
		for k, v := range labels {
			sub.Labels[k] = s.red.Fingerprint(v)
		}
	}
	return sub
}

// canonical is the request's deterministic encoding without its request_id,
// prefixed by the method: what a replay must match exactly (AIP-155).
func canonical(method string, req proto.Message) []byte {
	c := proto.Clone(req)
	// validate_only is left out too: a preview with a request_id answers
	// what the real request with that request_id would get.
	for _, name := range []protoreflect.Name{"request_id", "validate_only"} {
		if fd := c.ProtoReflect().Descriptor().Fields().ByName(name); fd != nil {
			c.ProtoReflect().Clear(fd)
		}
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	return append([]byte(method+"\x00"), b...)
}

// readable reports whether the caller may read an operation: the policy's
// operations.read on its secret.
func (s *replicationService) readable(ctx context.Context, op domain.Operation) bool {
	if op.Params.DR != nil {
		// A failover parent: readable by who may read every secret in it.
		for _, sec := range op.Params.DR.Secrets {
			if authorize(ctx, s.authz, access.ActionOperationsRead, sec.SecretID, nil) != nil {
				return false
			}
		}
		return true
	}
	return authorize(ctx, s.authz, access.ActionOperationsRead, op.Params.SecretID, nil) == nil
}

func regionsOf(op domain.Operation) []string {
	out := make([]string, 0, len(op.Regions))
	for _, r := range op.Regions {
		out = append(out, r.Region)
	}
	return out
}
