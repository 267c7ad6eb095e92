package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/validate"
)

const canaryAccount = "565656565656"

func testMapper(t *testing.T) (errorMapper, *bytes.Buffer) {
	t.Helper()
	red, err := redact.New(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	return errorMapper{red: red, log: slog.New(slog.NewJSONHandler(&logs, nil))}, &logs
}

// The one place errors become statuses: every class of error, its code, its
// details, and that no account id leaves in a message.
func TestErrorMapper(t *testing.T) {
	t.Parallel()
	m, logs := testMapper(t)
	arn := "arn:aws:secretsmanager:us-east-1:" + canaryAccount + ":secret:x-AbCdEf"
	for _, tt := range []struct {
		name    string
		err     error
		code    codes.Code
		reason  string // ErrorInfo or field violation reason, if any
		message string // a substring of the status message
	}{
		{"validation", &validate.Error{Violations: []validate.Violation{{Field: "regions[0].region", Reason: "INVALID_REGION", Description: "not a Region code"}}},
			codes.InvalidArgument, "INVALID_REGION", "regions[0].region"},
		{"request id reused", fmt.Errorf("submit: %w", engine.ErrRequestIDReused), codes.AlreadyExists, "REQUEST_ID_REUSED", "request_id"},
		{"too late", engine.ErrTooLate, codes.FailedPrecondition, "OPERATION_STARTED", "too late"},
		{"finished", engine.ErrFinished, codes.FailedPrecondition, "OPERATION_FINISHED", "finished"},
		{"denied", fmt.Errorf("%w: replicate on x", access.ErrPermissionDenied), codes.PermissionDenied, "PERMISSION_DENIED", "replicate"},
		{"not found", fmt.Errorf("get: %w", engine.ErrNotFound), codes.NotFound, "", "operation not found"},
		{"page token", errPageToken, codes.InvalidArgument, "INVALID_PAGE_TOKEN", "page_token"},
		{"aws", &domain.AWSError{API: "DescribeSecret", Region: "us-east-1", AWSCode: "ResourceNotFoundException",
			Message: "can't find " + arn, RequestID: "rid-1", Code: domain.CodeNotFound}, codes.NotFound, "ResourceNotFoundException", "DescribeSecret in us-east-1"},
		{"aws not found names the secret", &domain.AWSError{API: "DescribeSecret", Region: "us-east-1", AWSCode: "ResourceNotFoundException",
			Message: "can't find it", Code: domain.CodeNotFound, Secret: arn}, codes.NotFound, "ResourceNotFoundException", "secret arn:aws:secretsmanager:"},
		{"aws throttled", &domain.AWSError{API: "ReplicateSecretToRegions", Region: "eu-west-1", AWSCode: "ThrottlingException",
			Code: domain.CodeResourceExhausted}, codes.ResourceExhausted, "ThrottlingException", "ThrottlingException"},
		{"cancelled", context.Canceled, codes.Canceled, "", "cancelled"},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "", "deadline"},
		{"already a status", status.Error(codes.Unauthenticated, "no credentials"), codes.Unauthenticated, "", "no credentials"},
		{"anything else", errors.New("pool closed while reading " + arn), codes.Internal, "", "internal error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(m.toStatus(context.Background(), tt.err))
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.message) {
				t.Fatalf("got %s %q, want %s containing %q", st.Code(), st.Message(), tt.code, tt.message)
			}
			if strings.Contains(st.Message(), canaryAccount) {
				t.Errorf("the account id left in the message: %q", st.Message())
			}
			if tt.reason == "" {
				return
			}
			var reasons []string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					reasons = append(reasons, d.GetReason())
				case *errdetails.BadRequest:
					for _, v := range d.GetFieldViolations() {
						reasons = append(reasons, v.GetReason())
					}
				}
			}
			if !contains(reasons, tt.reason) {
				t.Errorf("details carry reasons %v, want %s", reasons, tt.reason)
			}
		})
	}
	if m.toStatus(context.Background(), nil) != nil {
		t.Error("nil must map to nil")
	}
	if strings.Contains(logs.String(), canaryAccount) {
		t.Errorf("the internal error's log line holds the account id: %s", logs)
	}
}

// Canonical codes and gRPC codes share google.rpc.Code's numbering.
func TestGRPCCodeOfEveryDomainCode(t *testing.T) {
	t.Parallel()
	for c, want := range map[domain.Code]codes.Code{
		domain.CodeOK: codes.OK, domain.CodeCancelled: codes.Canceled, domain.CodeUnknown: codes.Unknown,
		domain.CodeInvalidArgument: codes.InvalidArgument, domain.CodeDeadlineExceeded: codes.DeadlineExceeded,
		domain.CodeNotFound: codes.NotFound, domain.CodeAlreadyExists: codes.AlreadyExists,
		domain.CodePermissionDenied: codes.PermissionDenied, domain.CodeResourceExhausted: codes.ResourceExhausted,
		domain.CodeFailedPrecondition: codes.FailedPrecondition, domain.CodeAborted: codes.Aborted,
		domain.CodeInternal: codes.Internal, domain.CodeUnavailable: codes.Unavailable,
	} {
		if got := grpcCode(c); got != want {
			t.Errorf("%s maps to %s, want %s", c, got, want)
		}
		if !strings.EqualFold(strings.ReplaceAll(c.String(), "_", ""), strings.ReplaceAll(want.String(), "_", "")) &&
			!(c == domain.CodeCancelled && want == codes.Canceled) {
			t.Errorf("%s is named differently from gRPC's %s", c, want)
		}
	}
}

func TestPageTokens(t *testing.T) {
	t.Parallel()
	f := filterDigest("secret", "pending")
	tok := pageToken{beforeSeq: 42, filter: f}.encode()
	got, err := decodePageToken(tok, f)
	if err != nil || got.beforeSeq != 42 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		name, tok string
		filter    [8]byte
	}{
		{"another filter", tok, filterDigest("secret", "running")},
		{"filter parts shifted", pageToken{beforeSeq: 42, filter: filterDigest("secretpending", "")}.encode(), f},
		{"not base64", "%%%", f},
		{"too short", tok[:10], f},
		{"other version", "Ag" + tok[2:], f},
		{"no position", pageToken{beforeSeq: 0, filter: f}.encode(), f},
		{"negative position", pageToken{beforeSeq: -1, filter: f}.encode(), f},
	} {
		if _, err := decodePageToken(tt.tok, tt.filter); !errors.Is(err, errPageToken) {
			t.Errorf("%s: %v, want errPageToken", tt.name, err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
