package validate

import (
	"strconv"
	"strings"

	"github.com/google/uuid"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/secretid"
)

// Audit event kinds as filters name them.
const (
	auditKindRPC     = "rpc"
	auditKindAWSCall = "aws_call"
)

// AuditFilter validates a ListAuditEventsRequest's filter and returns it;
// the page token and size are the caller's.
func AuditFilter(req *replicadv1.ListAuditEventsRequest) (domain.AuditFilter, error) {
	var f domain.AuditFilter
	var c collector
	if t := req.GetStartTime(); t != nil {
		f.Start = t.AsTime()
	}
	if t := req.GetEndTime(); t != nil {
		f.End = t.AsTime()
	}
	if !f.Start.IsZero() && !f.End.IsZero() && !f.End.After(f.Start) {
		c.add("end_time", "OUT_OF_RANGE", "must be after start_time")
	}
	f.Principal = req.GetPrincipal()
	if sid := req.GetSecretId(); sid != "" {
		if _, err := secretid.Parse(sid); err != nil {
			c.add("secret_id", "INVALID_SECRET_ID", "%s", describeParse(err))
		}
		f.SecretID = sid
	}
	if m := req.GetMethod(); m != "" {
		f.Methods = expandMethod(m)
	}
	if o := req.GetOutcome(); o != "" {
		code, ok := codeByName(o)
		if !ok {
			c.add("outcome", "INVALID_OUTCOME", "OK or a gRPC code name such as PERMISSION_DENIED")
		}
		f.Code = &code
	}
	switch req.GetKind() {
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_UNSPECIFIED:
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_RPC:
		f.Kind = auditKindRPC
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_AWS_CALL:
		f.Kind = auditKindAWSCall
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_APPROVAL:
		f.Kind = "approval"
	case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_BREAK_GLASS:
		f.Kind = "break_glass"
	default:
		c.add("kind", "INVALID_ENUM", "not a known event kind")
	}
	if id := req.GetOperationId(); id != "" {
		u, err := uuid.Parse(id)
		if err != nil || !IsUUID(id) {
			c.add("operation_id", "INVALID_OPERATION_ID", "an operation id is a UUID")
		}
		f.OperationID = u
	}
	if req.GetPageSize() < 0 {
		c.add("page_size", "OUT_OF_RANGE", "must not be negative")
	}
	return f, c.err()
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

// grpcCodeNames are the canonical code names, indexed by code (0-16).
var grpcCodeNames = []string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
	"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// codeByName reads an outcome filter: a code name in any case, with or
// without underscores (PERMISSION_DENIED, permissiondenied), or its number.
func codeByName(name string) (int32, bool) {
	squash := func(s string) string { return strings.ReplaceAll(strings.ToUpper(s), "_", "") }
	for i, n := range grpcCodeNames {
		if squash(n) == squash(name) {
			return int32(i), true
		}
	}
	if name == "CANCELED" || strings.EqualFold(name, "canceled") {
		return 1, true
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < len(grpcCodeNames) {
		return int32(n), true
	}
	return 0, false
}
