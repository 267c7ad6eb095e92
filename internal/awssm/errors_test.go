package awssm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/replicad/replicad/internal/domain"
)

// awsErr builds what the SDK returns for an error answer: the API error
// inside the HTTP response error, with AWS's request id.
func awsErr(status int, code, msg string) error {
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: msg},
		},
		RequestID: "rid-" + code,
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		err       error
		code      string
		class     Class
		transient bool
		canonical domain.Code
		requestID bool
	}{
		{"throttling", awsErr(400, "ThrottlingException", "Rate exceeded"), "ThrottlingException", ClassThrottled, true, domain.CodeResourceExhausted, true},
		{"too many requests", awsErr(429, "TooManyRequestsException", ""), "TooManyRequestsException", ClassThrottled, true, domain.CodeResourceExhausted, true},
		{"not found", awsErr(400, "ResourceNotFoundException", "can't find"), "ResourceNotFoundException", ClassNotFound, false, domain.CodeNotFound, true},
		{"bad parameter", awsErr(400, "InvalidParameterException", "bad Region"), "InvalidParameterException", ClassInvalidArgument, false, domain.CodeInvalidArgument, true},
		{"bad request", awsErr(400, "InvalidRequestException", "marked for deletion"), "InvalidRequestException", ClassFailedPrecondition, false, domain.CodeFailedPrecondition, true},
		{"access denied", awsErr(400, "AccessDeniedException", "not authorized"), "AccessDeniedException", ClassPermissionDenied, false, domain.CodePermissionDenied, true},
		{"expired token", awsErr(400, "ExpiredTokenException", ""), "ExpiredTokenException", ClassPermissionDenied, false, domain.CodePermissionDenied, true},
		{"limit", awsErr(400, "LimitExceededException", ""), "LimitExceededException", ClassResourceExhausted, false, domain.CodeResourceExhausted, true},
		{"internal service error", awsErr(500, "InternalServiceError", ""), "InternalServiceError", ClassUnavailable, true, domain.CodeUnavailable, true},
		{"unknown code on a 5xx", awsErr(503, "SomethingNew", ""), "SomethingNew", ClassUnavailable, true, domain.CodeUnavailable, true},
		{"unknown code on a 4xx", awsErr(400, "SomethingNew", ""), "SomethingNew", ClassUnknown, false, domain.CodeUnknown, true},
		{"retry quota", fmt.Errorf("retry: %w", &ratelimit.QuotaExceededError{}), "RetryQuotaExceeded", ClassThrottled, true, domain.CodeResourceExhausted, false},
		{"interrupted", fmt.Errorf("send: %w", context.DeadlineExceeded), "Interrupted", ClassUnavailable, true, domain.CodeUnavailable, false},
		{"5xx without a body", &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 502}}, Err: errors.New("eof")},
			"HTTP502", ClassUnavailable, true, domain.CodeUnavailable, false},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "ConnectionError", ClassUnavailable, true, domain.CodeUnavailable, false},
		{"anything else", errors.New("serialization"), "ClientError", ClassUnknown, false, domain.CodeUnknown, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := classify("DescribeSecret", "eu-west-1", tt.err)
			if e.Code != tt.code || e.Class != tt.class || e.Transient() != tt.transient || e.Class.Code() != tt.canonical {
				t.Errorf("classified as %s class %d transient %v code %s", e.Code, e.Class, e.Transient(), e.Class.Code())
			}
			if (e.RequestID != "") != tt.requestID {
				t.Errorf("request id %q", e.RequestID)
			}
			if e.API != "DescribeSecret" || e.Region != "eu-west-1" || !errors.Is(e, tt.err) {
				t.Errorf("the classified error lost its call or its cause: %v", e)
			}
		})
	}
}

func TestBucketOf(t *testing.T) {
	t.Parallel()
	for api, want := range map[string]bucket{
		"ReplicateSecretToRegions": bucketWrite, "RemoveRegionsFromReplication": bucketWrite,
		"StopReplicationToReplica": bucketWrite, "PutSecretValue": bucketWrite,
		"DescribeSecret": bucketRead, "ListSecrets": bucketScan, "GetSecretValue": bucketRead,
	} {
		if got := bucketOf(api); got != want {
			t.Errorf("%s is in bucket %d, want %d", api, got, want)
		}
	}
}
