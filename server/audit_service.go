package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/replicad/replicad/audit"
	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/policy"
	"github.com/replicad/replicad/redact"
	"github.com/replicad/replicad/secretid"
	"github.com/replicad/replicad/store"
	"github.com/replicad/replicad/validate"
)

// Audit listing limits.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

type auditService struct {
	replicadv1.UnimplementedAuditServiceServer
	db    *pgxpool.Pool
	red   *redact.Redactor
	errs  errorMapper
	authz Authorizer
}

func (s *auditService) ListAuditEvents(ctx context.Context, req *replicadv1.ListAuditEventsRequest) (*replicadv1.ListAuditEventsResponse, error) {
	if err := authorize(ctx, s.authz, policy.ActionAuditRead, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	f, err := s.filter(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	digest := filterDigest("audit", req.GetStartTime().String(), req.GetEndTime().String(), req.GetPrincipal(), f.Secret,
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
	rows, err := store.ListAuditEvents(ctx, s.db, f)
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

func (s *auditService) filter(req *replicadv1.ListAuditEventsRequest) (store.AuditFilter, error) {
	var f store.AuditFilter
	var bad []validate.Violation
	add := func(field, reason, desc string) {
		bad = append(bad, validate.Violation{Field: field, Reason: reason, Description: desc})
	}
	if t := req.GetStartTime(); t != nil {
		f.Start = t.AsTime()
	}
	if t := req.GetEndTime(); t != nil {
		f.End = t.AsTime()
	}
	if !f.Start.IsZero() && !f.End.IsZero() && !f.End.After(f.Start) {
		add("end_time", "OUT_OF_RANGE", "must be after start_time")
	}
	f.Principal = req.GetPrincipal()
	if sid := req.GetSecretId(); sid != "" {
		if _, err := secretid.Parse(sid); err != nil {
			add("secret_id", "INVALID_SECRET_ID", "not a secret name or ARN")
		}
		f.Secret = s.red.ARN(sid)
	}
	if m := req.GetMethod(); m != "" {
		f.Methods = expandMethod(m)
	}
	if o := req.GetOutcome(); o != "" {
		code, ok := codeByName(o)
		if !ok {
			add("outcome", "INVALID_OUTCOME", "OK or a gRPC code name such as PERMISSION_DENIED")
		}
		f.Code = &code
	}
	switch req.GetKind() {
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_UNSPECIFIED:
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_RPC:
		f.Kind = audit.KindRPC
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_AWS_CALL:
		f.Kind = audit.KindAWSCall
	default:
		add("kind", "INVALID_ENUM", "not a known event kind")
	}
	if id := req.GetOperationId(); id != "" {
		u, err := uuid.Parse(id)
		if err != nil || !validate.IsUUID(id) {
			add("operation_id", "INVALID_OPERATION_ID", "an operation id is a UUID")
		}
		f.OperationID = u
	}
	if req.GetPageSize() < 0 {
		add("page_size", "OUT_OF_RANGE", "must not be negative")
	}
	if len(bad) > 0 {
		return f, &validate.Error{Violations: bad}
	}
	return f, nil
}

// expandMethod accepts a full gRPC method, a bare RPC name or an AWS API.
func expandMethod(m string) []string {
	if strings.HasPrefix(m, "/") {
		return []string{m}
	}
	out := []string{m}
	for _, svc := range []string{replicadv1.ReplicationService_ServiceDesc.ServiceName, replicadv1.AuditService_ServiceDesc.ServiceName} {
		out = append(out, "/"+svc+"/"+m)
	}
	return out
}

func codeByName(name string) (int32, bool) {
	name = strings.ToUpper(name)
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if strings.EqualFold(strings.ReplaceAll(c.String(), "_", ""), strings.ReplaceAll(name, "_", "")) {
			return int32(c), true
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n <= int(codes.Unauthenticated) {
		return int32(n), true
	}
	return 0, false
}

func (s *auditService) VerifyAudit(ctx context.Context, req *replicadv1.VerifyAuditRequest) (*replicadv1.VerifyAuditResponse, error) {
	if err := authorize(ctx, s.authz, policy.ActionAuditRead, "", nil); err != nil {
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
	rep, err := audit.Verify(ctx, s.db, known)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return verifyReportToProto(rep), nil
}

func verifyReportToProto(rep audit.Report) *replicadv1.VerifyAuditResponse {
	out := &replicadv1.VerifyAuditResponse{
		Ok: rep.OK, Verified: rep.Verified, FirstPosition: rep.FirstPosition,
		HeadPosition: rep.HeadPosition, HeadHash: hex.EncodeToString(rep.HeadHash), Unchained: rep.Unchained,
	}
	if rep.Break != nil {
		out.FirstBreak = &replicadv1.AuditBreak{Position: rep.Break.Position, EventId: rep.Break.EventID, Reason: rep.Break.Reason}
	}
	return out
}

func auditEventToProto(r store.AuditRow) *replicadv1.AuditEvent {
	var e audit.Event
	_ = json.Unmarshal([]byte(r.Body), &e)
	out := &replicadv1.AuditEvent{
		Id: r.ID.String(), Time: timestamppb.New(r.Time), Principal: r.Principal, Method: r.Method, Secret: r.Secret,
		Code: r.Code, Message: e.Message, RequestId: r.RequestID, ClientAddress: r.ClientAddress, Transport: r.Transport,
		AwsRegion: r.AWSRegion, AwsRequestId: r.AWSRequestID, AwsErrorCode: e.AWSErrorCode,
		Latency: durationpb.New(microseconds(e.LatencyMicros)), ChainPosition: r.ChainPos,
	}
	if len(r.Hash) > 0 {
		out.Hash = hex.EncodeToString(r.Hash)
	}
	switch r.Kind {
	case audit.KindRPC:
		out.Kind = replicadv1.AuditEventKind_AUDIT_EVENT_KIND_RPC
	case audit.KindAWSCall:
		out.Kind = replicadv1.AuditEventKind_AUDIT_EVENT_KIND_AWS_CALL
	}
	if r.OperationID != uuid.Nil {
		out.OperationId = r.OperationID.String()
	}
	if len(e.Request) > 0 {
		var st structpb.Struct
		if protojson.Unmarshal(e.Request, &st) == nil {
			out.Request = &st
		}
	}
	return out
}
