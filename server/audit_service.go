package server

import (
	"context"
	"encoding/hex"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/validate"
)

// Audit listing limits.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

// AuditReader is what the AuditService needs from the audit trail.
type AuditReader interface {
	List(ctx context.Context, f domain.AuditFilter) ([]audit.Stored, error)
	Verify(ctx context.Context, known *audit.Known) (audit.Report, error)
}

type auditService struct {
	replicadv1.UnimplementedAuditServiceServer
	trail AuditReader
	errs  errorMapper
	authz Authorizer
}

func (s *auditService) ListAuditEvents(ctx context.Context, req *replicadv1.ListAuditEventsRequest) (*replicadv1.ListAuditEventsResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionAuditRead, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	f, err := validate.AuditFilter(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	digest := filterDigest("audit", req.GetStartTime().String(), req.GetEndTime().String(), req.GetPrincipal(), f.SecretID,
		strings.Join(f.Methods, ","), req.GetOutcome(), f.Kind, req.GetOperationId())
	if tok := req.GetPageToken(); tok != "" {
		t, err := decodePageToken(tok, digest)
		if err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
		f.BeforeSeq = t.beforeSeq
	}
	size := int(req.GetPageSize())
	switch {
	case size <= 0:
		size = defaultAuditPage
	case size > maxAuditPage:
		size = maxAuditPage
	}
	f.Limit = size + 1
	rows, err := s.trail.List(ctx, f)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	resp := &replicadv1.ListAuditEventsResponse{}
	if len(rows) > size {
		rows = rows[:size]
		resp.NextPageToken = pageToken{beforeSeq: rows[size-1].Seq, filter: digest}.encode()
	}
	for _, r := range rows {
		resp.Events = append(resp.Events, auditEventToProto(r))
	}
	return resp, nil
}

func (s *auditService) VerifyAudit(ctx context.Context, req *replicadv1.VerifyAuditRequest) (*replicadv1.VerifyAuditResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionAuditRead, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	var known *audit.Known
	if req.GetKnownPosition() != 0 || req.GetKnownHash() != "" {
		h, err := hex.DecodeString(req.GetKnownHash())
		if err != nil || len(h) != 32 || req.GetKnownPosition() <= 0 {
			return nil, s.errs.toStatus(ctx, &validate.Error{Violations: []validate.Violation{{
				Field: "known_hash", Reason: "INVALID_KNOWN_HEAD", Description: "a known head is a positive position and a 64-digit hex SHA-256",
			}}})
		}
		known = &audit.Known{Position: req.GetKnownPosition(), Hash: h}
	}
	rep, err := s.trail.Verify(ctx, known)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return verifyReportToProto(rep), nil
}

func verifyReportToProto(rep audit.Report) *replicadv1.VerifyAuditResponse {
	out := &replicadv1.VerifyAuditResponse{
		Ok: rep.OK, Verified: rep.Verified, FirstPosition: rep.FirstPosition,
		HeadPosition: rep.HeadPosition, HeadHash: hex.EncodeToString(rep.HeadHash), Unchained: rep.Unchained,
		Anchors: rep.Anchors, ExportsVerified: rep.ExportsVerified,
	}
	if rep.Break != nil {
		out.FirstBreak = &replicadv1.AuditBreak{Position: rep.Break.Position, EventId: rep.Break.EventID, Reason: rep.Break.Reason}
	}
	return out
}

func auditEventToProto(r audit.Stored) *replicadv1.AuditEvent {
	e := r.Event
	out := &replicadv1.AuditEvent{
		Id: e.ID.String(), Time: timestamppb.New(e.Time), Principal: e.Principal, Method: e.Method, Secret: e.Secret,
		Code: e.Code, Message: e.Message, OperationId: e.OperationID, RequestId: e.RequestID, ClientAddress: e.ClientAddress,
		Transport: e.Transport, AwsRegion: e.AWSRegion, AwsRequestId: e.AWSRequestID, AwsErrorCode: e.AWSErrorCode,
		Latency: durationpb.New(microseconds(e.LatencyMicros)), ChainPosition: r.ChainPos,
	}
	if len(r.Hash) > 0 {
		out.Hash = hex.EncodeToString(r.Hash)
	}
	switch e.Kind {
	case audit.KindRPC:
		out.Kind = replicadv1.AuditEventKind_AUDIT_EVENT_KIND_RPC
	case audit.KindAWSCall:
		out.Kind = replicadv1.AuditEventKind_AUDIT_EVENT_KIND_AWS_CALL
	case audit.KindApproval:
		out.Kind = replicadv1.AuditEventKind_AUDIT_EVENT_KIND_APPROVAL
	case audit.KindBreakGlass:
		out.Kind = replicadv1.AuditEventKind_AUDIT_EVENT_KIND_BREAK_GLASS
	}
	if len(e.Request) > 0 {
		var st structpb.Struct
		if protojson.Unmarshal(e.Request, &st) == nil {
			out.Request = &st
		}
	}
	return out
}
