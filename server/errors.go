package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/validate"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of replicad's errors.
const ErrorDomain = "replicad"

// errorMapper is the one place domain errors become gRPC statuses. Every
// handler returns its errors through it, so codes and details are decided
// (and tested) here only, and no error text leaves unredacted.
type errorMapper struct {
	red *redact.Redactor
	log *slog.Logger
}

func (m errorMapper) toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var (
		verr     *validate.Error
		overlap  *engine.PolicyOverlapError
		kmsErr   *engine.KMSKeyError
		aerr     *domain.AWSError
		tooLarge errRequestTooLarge
	)
	switch {
	case errors.As(err, &tooLarge):
		return withDetails(codes.ResourceExhausted, tooLarge.Error(), &errdetails.ErrorInfo{Reason: "REQUEST_TOO_LARGE", Domain: ErrorDomain})
	case errors.As(err, &verr):
		br := &errdetails.BadRequest{}
		for _, v := range verr.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.Field, Description: v.Description, Reason: v.Reason,
			})
		}
		return withDetails(codes.InvalidArgument, verr.Error(), br)
	case errors.Is(err, engine.ErrRequestIDReused):
		return withDetails(codes.AlreadyExists, "request_id was already used for a different request: use a new request_id for a new request",
			&errdetails.ErrorInfo{Reason: "REQUEST_ID_REUSED", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrTooLate):
		return withDetails(codes.FailedPrecondition, "too late to cancel: the operation's AWS call that changes the secret has gone through or is under way; wait for it to finish, then undo it with a new request if needed",
			&errdetails.ErrorInfo{Reason: "OPERATION_STARTED", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrFinished):
		return withDetails(codes.FailedPrecondition, "the operation has already finished",
			&errdetails.ErrorInfo{Reason: "OPERATION_FINISHED", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrSelfApproval):
		return withDetails(codes.PermissionDenied, "the requester cannot approve their own operation: ask another approver",
			&errdetails.ErrorInfo{Reason: "SELF_APPROVAL", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrNotApprover):
		return withDetails(codes.PermissionDenied, "permission denied: caller is in none of the operation's approver groups",
			&errdetails.ErrorInfo{Reason: "NOT_APPROVER", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrNotAwaitingApproval):
		return withDetails(codes.FailedPrecondition, "the operation is not awaiting approval",
			&errdetails.ErrorInfo{Reason: "NOT_AWAITING_APPROVAL", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrApprovalExpired):
		return withDetails(codes.FailedPrecondition, "the operation's approval window has closed: request it again",
			&errdetails.ErrorInfo{Reason: "APPROVAL_EXPIRED", Domain: ErrorDomain})
	case errors.As(err, &kmsErr):
		// Names the field and the Region, never the alias (the caller
		// wrote it) nor the account it was looked up in.
		br := &errdetails.BadRequest{}
		for _, v := range kmsErr.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: fmt.Sprintf("policy.replicas[%d].kms_key_id", v.Replica), Reason: "KMS_KEY_NOT_FOUND",
				Description: "no KMS key has this alias in " + v.Region + " (aliases are resolved in the replica's Region)",
			})
		}
		return withDetails(codes.InvalidArgument, "a desired KMS key alias does not exist in its Region", br)
	case errors.As(err, &overlap):
		// Names the other policies (the caller may read policies) and a
		// count, never a secret.
		pf := &errdetails.PreconditionFailure{}
		for _, name := range overlap.Policies {
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{Type: "POLICY_OVERLAP", Subject: "policies/" + name,
				Description: "selects some of the same secrets with different desired replicas"})
		}
		return withDetails(codes.FailedPrecondition, overlap.Error(), pf,
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "policy.selector", Reason: "POLICY_OVERLAP",
				Description: "the selector selects secrets another policy selects with different desired replicas"}}},
			&errdetails.ErrorInfo{Reason: "POLICY_OVERLAP", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrPolicyNotFound):
		return status.Error(codes.NotFound, "replication policy not found")
	case errors.Is(err, engine.ErrPolicyExists):
		return withDetails(codes.AlreadyExists, "a replication policy with this name already exists",
			&errdetails.ErrorInfo{Reason: "POLICY_EXISTS", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrPolicyETag):
		return withDetails(codes.Aborted, "the policy changed since it was read: get it again and retry with its current etag",
			&errdetails.ErrorInfo{Reason: "ETAG_MISMATCH", Domain: ErrorDomain})
	case errors.Is(err, errConsoleReadOnly):
		return withDetails(codes.PermissionDenied, err.Error(), &errdetails.ErrorInfo{Reason: "CONSOLE_READ_ONLY", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrNotAFailover):
		return withDetails(codes.FailedPrecondition, "the operation named is not a failover: fail back the failover that moved the secrets",
			&errdetails.ErrorInfo{Reason: "NOT_A_FAILOVER", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrFailoverUnfinished):
		return withDetails(codes.FailedPrecondition, "the failover has not ended: wait for it before failing back",
			&errdetails.ErrorInfo{Reason: "FAILOVER_UNFINISHED", Domain: ErrorDomain})
	case errors.Is(err, access.ErrPermissionDenied):
		// Names the action and the resource, never the policy's contents.
		return withDetails(codes.PermissionDenied, err.Error(), &errdetails.ErrorInfo{Reason: "PERMISSION_DENIED", Domain: ErrorDomain})
	case errors.Is(err, engine.ErrNotFound):
		return status.Error(codes.NotFound, "operation not found")
	case errors.Is(err, engine.ErrSecretNotInInventory):
		return status.Error(codes.NotFound, "secret not in the inventory: it was never listed by a scan nor changed by replicad")
	case errors.Is(err, errPageToken):
		return withDetails(codes.InvalidArgument, err.Error(), &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "page_token", Reason: "INVALID_PAGE_TOKEN", Description: err.Error()}},
		})
	case errors.As(err, &aerr):
		info := &errdetails.ErrorInfo{Reason: aerr.AWSCode, Domain: "secretsmanager.amazonaws.com"}
		if aerr.RequestID != "" {
			info.Metadata = map[string]string{"aws_request_id": aerr.RequestID}
		}
		msg := aerr.API + " in " + aerr.Region + " failed: " + aerr.AWSCode + ": " + m.red.Text(aerr.Message)
		if aerr.Code == domain.CodeNotFound && aerr.Secret != "" {
			// Say which secret: AWS's message never does. Redacted by
			// the engine, and again here like every text that leaves.
			msg = "secret " + m.red.Text(aerr.Secret) + " not found in " + aerr.Region + ": " + msg
		}
		return withDetails(grpcCode(aerr.Code), msg, info)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	m.log.ErrorContext(ctx, "internal error", "error", m.red.Text(err.Error()))
	return status.Error(codes.Internal, "internal error")
}

// grpcCode is the gRPC code of a canonical code: the same numbering
// (google.rpc.Code), so the API's statuses and the operations' stored
// errors agree.
func grpcCode(c domain.Code) codes.Code { return codes.Code(uint32(c)) }

func withDetails(code codes.Code, msg string, details ...protoadapt.MessageV1) error {
	st, err := status.New(code, msg).WithDetails(details...)
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}
