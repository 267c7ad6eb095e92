package awssm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/replicad/replicad/internal/domain"
)

// Class is what a failed call means for the operation that made it.
type Class int

// Error classes. Throttled and Unavailable are transient: the SDK already
// retried them with exponential backoff and full jitter; the caller may try
// the whole step again later. The others end the operation at once.
const (
	ClassUnknown Class = iota
	ClassThrottled
	ClassUnavailable
	ClassNotFound
	ClassInvalidArgument
	ClassFailedPrecondition
	ClassPermissionDenied
	ClassResourceExhausted
)

// Error is a failed Secrets Manager call, classified.
type Error struct {
	API, Region string
	// Code is AWS's error code (e.g. ResourceNotFoundException), or a
	// description of a transport failure.
	Code string
	// Message is AWS's message. It may echo request parameters: redact it
	// before it leaves the process.
	Message   string
	RequestID string
	Class     Class
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s in %s: %s: %s", e.API, e.Region, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether retrying later may succeed.
func (e *Error) Transient() bool { return e.Class == ClassThrottled || e.Class == ClassUnavailable }

// Code is the canonical code a call failing with this class stands for:
// what an operation that fails with it ends with.
func (c Class) Code() domain.Code {
	switch c {
	case ClassThrottled, ClassResourceExhausted:
		return domain.CodeResourceExhausted
	case ClassUnavailable:
		return domain.CodeUnavailable
	case ClassNotFound:
		return domain.CodeNotFound
	case ClassInvalidArgument:
		return domain.CodeInvalidArgument
	case ClassFailedPrecondition:
		return domain.CodeFailedPrecondition
	case ClassPermissionDenied:
		return domain.CodePermissionDenied
	default:
		return domain.CodeUnknown
	}
}

// throttleCodes are the error codes AWS services use for throttling; the
// SDK treats them as retryable, and so do we once its attempts run out.
var throttleCodes = map[string]bool{
	"ThrottlingException": true, "Throttling": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true,
	"ProvisionedThroughputExceededException": true, "TransactionInProgressException": true,
	"RequestLimitExceeded": true, "BandwidthLimitExceeded": true,
	"RequestThrottled": true, "SlowDown": true, "PriorRequestNotComplete": true,
	"EC2ThrottledException": true,
}

var codeClasses = map[string]Class{
	"ResourceNotFoundException": ClassNotFound,
	// KMS DescribeKey's for a key that does not exist.
	"NotFoundException":                   ClassNotFound,
	"InvalidParameterException":           ClassInvalidArgument,
	"InvalidRequestException":             ClassFailedPrecondition,
	"MalformedPolicyDocumentException":    ClassInvalidArgument,
	"PreconditionNotMetException":         ClassFailedPrecondition,
	"EncryptionFailure":                   ClassFailedPrecondition,
	"DecryptionFailure":                   ClassFailedPrecondition,
	"ResourceExistsException":             ClassFailedPrecondition,
	"LimitExceededException":              ClassResourceExhausted,
	"AccessDeniedException":               ClassPermissionDenied,
	"UnrecognizedClientException":         ClassPermissionDenied,
	"InvalidSignatureException":           ClassPermissionDenied,
	"IncompleteSignature":                 ClassPermissionDenied,
	"MissingAuthenticationTokenException": ClassPermissionDenied,
	"ExpiredTokenException":               ClassPermissionDenied,
	"InternalServiceError":                ClassUnavailable,
	"InternalFailure":                     ClassUnavailable,
	"ServiceUnavailable":                  ClassUnavailable,
}

// classify turns an SDK error into an *Error.
func classify(api, region string, err error) *Error {
	e := &Error{API: api, Region: region, Err: err, Class: ClassUnknown}
	var re interface{ ServiceRequestID() string }
	if errors.As(err, &re) {
		e.RequestID = re.ServiceRequestID()
	}
	var apiErr smithy.APIError
	var respErr *smithyhttp.ResponseError
	var netErr net.Error
	var quotaErr *ratelimit.QuotaExceededError
	switch {
	case errors.As(err, &apiErr):
		e.Code, e.Message = apiErr.ErrorCode(), apiErr.ErrorMessage()
		switch {
		case throttleCodes[e.Code]:
			e.Class = ClassThrottled
		case codeClasses[e.Code] != ClassUnknown:
			e.Class = codeClasses[e.Code]
		case errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500:
			e.Class = ClassUnavailable
		}
	case errors.As(err, &quotaErr):
		// The SDK's client-side retry budget ran dry: back off harder.
		e.Code, e.Message, e.Class = "RetryQuotaExceeded", "client-side retry quota exhausted", ClassThrottled
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Code, e.Message, e.Class = "Interrupted", "the call was interrupted before it completed", ClassUnavailable
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500:
		e.Code, e.Message, e.Class = fmt.Sprintf("HTTP%d", respErr.HTTPStatusCode()), "server error", ClassUnavailable
	case errors.As(err, &netErr), isConnectionError(err):
		e.Code, e.Message, e.Class = "ConnectionError", "could not reach the Secrets Manager endpoint", ClassUnavailable
	default:
		e.Code, e.Message = "ClientError", "the request could not be sent"
	}
	return e
}

// mutate makes one mutating call and classifies its error. The SDK retries
// an attempt that got no answer (a timeout, a dropped connection), and
// such an attempt may have been applied: AWS then refuses the retry (for
// ReplicateSecretToRegions to the Region the first attempt added, the
// stand-in answers InvalidParameterException; AWS documents nothing, and
// moto instead appends a Failed entry). A refusal after an unanswered
// attempt therefore says nothing about the call, and is returned as
// OutcomeUnknown, a transient error with no request id: the caller's next
// look at AWS (DescribeSecret) decides, as it does after a crash between
// a call and its answer.
func mutate(ctx context.Context, api, region string, call func(ctx context.Context) error) error {
	unanswered := new(atomic.Bool)
	err := call(context.WithValue(ctx, unansweredKey{}, unanswered))
	if err == nil {
		return nil
	}
	e := classify(api, region, err)
	if !unanswered.Load() || e.Transient() {
		return e
	}
	return &Error{API: api, Region: region, Class: ClassUnavailable, Err: e,
		Code: CodeOutcomeUnknown,
		// The refusal's code only: its message may echo parameters.
		Message: fmt.Sprintf("an attempt got no answer and may have been applied; its retry was refused (%s)", e.Code)}
}

// CodeOutcomeUnknown is the code of a mutating call whose retry was refused
// after an attempt that got no answer (mutate).
const CodeOutcomeUnknown = "OutcomeUnknown"

// unansweredKey marks, in a mutating call's context, that one of its
// attempts got no answer (set by the attempt middleware).
type unansweredKey struct{}

func isConnectionError(err error) bool {
	return retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}
