package awssm

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/secretid"
)

// Attempt describes one HTTP attempt of a Secrets Manager call: each SDK
// retry is an attempt, and each reaches CloudTrail separately.
type Attempt struct {
	API, Region string
	// RequestID is AWS's x-amzn-RequestId, empty when no response arrived.
	RequestID string
	// ErrorCode is AWS's error code, a transport failure description, or
	// empty on success.
	ErrorCode  string
	HTTPStatus int
	// Waited is the time spent waiting for the rate budget.
	Waited time.Duration
	// Duration is the attempt's own latency.
	Duration time.Duration
	// Time is when the attempt ended.
	Time time.Time
	// Throttled is set when AWS answered with a throttling error.
	Throttled bool
	// Class classifies a failed attempt (ClassUnknown on success).
	Class Class
	// ErrorMessage is AWS's message for a failed attempt. It may echo
	// request parameters: redact it before it leaves the process.
	ErrorMessage string
	// Params are the call's parameters as sent. They hold ARNs: whoever
	// records them redacts them first.
	Params CallParams
	// Caller says whom the call was made for (WithCaller).
	Caller Caller
}

// CallParams are the parameters of a Secrets Manager call as sent.
type CallParams struct {
	SecretID string
	// AddReplicaRegions and ForceOverwriteReplicaSecret: ReplicateSecretToRegions.
	AddReplicaRegions           []domain.ReplicaParam
	ForceOverwriteReplicaSecret bool
	// RemoveReplicaRegions: RemoveRegionsFromReplication.
	RemoveReplicaRegions []string
}

// Caller identifies on whose behalf a call is made, so that an audit of the
// call answers "who caused this CloudTrail entry".
type Caller struct {
	Principal   string
	OperationID string
	// Background calls (policy reconciliation) yield to the others within
	// each rate budget: see pace.waitBackground.
	Background bool
}

type callerKey struct{}

// WithCaller returns a context whose calls are attributed to c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// Observer hears about every attempt made by the Client (audit, metrics).
type Observer interface {
	ObserveAttempt(ctx context.Context, a Attempt)
}

// Observers fans an attempt out to several observers, in order.
type Observers []Observer

// ObserveAttempt implements Observer.
func (os Observers) ObserveAttempt(ctx context.Context, a Attempt) {
	for _, o := range os {
		o.ObserveAttempt(ctx, a)
	}
}

type recorderKey struct{}

// WithRecorder returns a context whose calls report each attempt to f, in
// addition to the Client's Observer: the engine collects the attempts made
// for one operation this way.
func WithRecorder(ctx context.Context, f func(Attempt)) context.Context {
	return context.WithValue(ctx, recorderKey{}, f)
}

type accountKey struct{}

// withKey notes the account the call is for, which selects its rate budget
// and its credentials: an ARN names it; a bare name means the account set
// by WithAccount, or the ambient credentials' own ("").
func withKey(ctx context.Context, secretID string) context.Context {
	id, err := secretid.Parse(secretID)
	if err != nil || id.Account == "" {
		return ctx
	}
	return context.WithValue(ctx, accountKey{}, id.Account)
}

// WithAccount returns a context whose calls act in account (its assumed
// role when the account is configured) and spend its budgets; "" leaves
// the context as it is. An ARN passed to a call still names its own
// account.
func WithAccount(ctx context.Context, account string) context.Context {
	if account == "" {
		return ctx
	}
	return context.WithValue(ctx, accountKey{}, account)
}

type scanKey struct{}

// WithScan returns a context whose calls spend the inventory scanner's
// budget (Config.ScanRate) instead of the read budget.
func WithScan(ctx context.Context) context.Context {
	return context.WithValue(ctx, scanKey{}, true)
}

type pacingKey struct{}

// pacing carries an attempt's rate budget to the HTTP client, and how long
// the attempt waited for it back.
type pacing struct {
	limiter *pace
	waited  time.Duration
	// err is why the wait ended without a token (the call's context
	// ended): nothing was sent, so it is no attempt.
	err error
}

// pacedClient waits for the request's rate budget right before sending.
type pacedClient struct{ next aws.HTTPClient }

func (c pacedClient) Do(req *http.Request) (*http.Response, error) {
	if p, ok := req.Context().Value(pacingKey{}).(*pacing); ok {
		start := time.Now()
		wait := p.limiter.wait
		if c, _ := req.Context().Value(callerKey{}).(Caller); c.Background {
			wait = p.limiter.waitBackground
		}
		if err := wait(req.Context()); err != nil {
			p.err = err
			return nil, err
		}
		p.waited = time.Since(start)
	}
	return c.next.Do(req)
}

// attemptMiddleware runs after the SDK's retry middleware, so it sees each
// attempt: it waits for the rate budget of account (the client's, see
// Client.budgetAccount), then records the attempt.
func attemptMiddleware(b *budgets, obs Observer, tracer trace.Tracer, account string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		mw := middleware.FinalizeMiddlewareFunc("replicad/attempt", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			api, region := awsmiddleware.GetOperationName(ctx), awsmiddleware.GetRegion(ctx)
			// The budget is waited for in pacedClient, just before the
			// request goes on the wire: between here and there, signing and
			// scheduling add delays that would bunch requests together
			// where the budget is measured, at the receiving end.
			bk := bucketOf(api)
			if scan, _ := ctx.Value(scanKey{}).(bool); scan {
				bk = bucketScan
			}
			pace := &pacing{limiter: b.limiter(account, region, bk)}
			ctx = context.WithValue(ctx, pacingKey{}, pace)
			ctx, span := tracer.Start(ctx, "SecretsManager/"+api, trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(
					attribute.String("rpc.system", "aws-api"),
					attribute.String("rpc.service", "SecretsManager"),
					attribute.String("rpc.method", api),
					attribute.String("cloud.region", region),
				))
			defer span.End()
			sent := time.Now()
			out, md, err := next.HandleFinalize(ctx, in)
			if pace.err != nil {
				// The SDK would see a failed send and retry it as a
				// connection error; it is the caller's context ending.
				span.SetStatus(codes.Error, "rate budget wait interrupted")
				return out, md, pace.err
			}
			a := Attempt{API: api, Region: region, Waited: pace.waited, Duration: time.Since(sent) - pace.waited, Time: time.Now()}
			a.Params, _ = middleware.GetStackValue(ctx, inputKey{}).(CallParams)
			a.Caller, _ = ctx.Value(callerKey{}).(Caller)
			if rid, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
				a.RequestID = rid
			}
			if resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
				a.HTTPStatus = resp.StatusCode
			}
			if err != nil {
				var rid interface{ ServiceRequestID() string }
				if a.RequestID == "" && errors.As(err, &rid) {
					a.RequestID = rid.ServiceRequestID()
				}
				var status interface{ HTTPStatusCode() int }
				if a.HTTPStatus == 0 && errors.As(err, &status) {
					a.HTTPStatus = status.HTTPStatusCode()
				}
				ce := classify(api, region, err)
				a.ErrorCode, a.ErrorMessage, a.Class = ce.Code, ce.Message, ce.Class
				a.Throttled = throttleCodes[a.ErrorCode]
				if a.HTTPStatus == 0 && a.RequestID == "" {
					// Sent (the budget was waited for) and not answered:
					// it may have been applied.
					if u, ok := ctx.Value(unansweredKey{}).(*atomic.Bool); ok {
						u.Store(true)
					}
				}
			}
			span.SetAttributes(attribute.String("aws.request_id", a.RequestID), attribute.Int("http.response.status_code", a.HTTPStatus))
			if err != nil {
				// The code only: AWS's message may echo request parameters.
				span.SetStatus(codes.Error, a.ErrorCode)
			}
			if obs != nil {
				obs.ObserveAttempt(ctx, a)
			}
			if f, ok := ctx.Value(recorderKey{}).(func(Attempt)); ok {
				f(a)
			}
			return out, md, err
		})
		if err := stack.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
			return err
		}
		// Capture the operation input at Initialize, where it is still the
		// typed SDK struct.
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("replicad/input", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(middleware.WithStackValue(ctx, inputKey{}, paramsOf(in.Parameters)), in)
		}), middleware.Before)
	}
}

type inputKey struct{}

// paramsOf extracts what an SDK input says, for the attempt's record.
func paramsOf(in any) CallParams {
	switch v := in.(type) {
	case *secretsmanager.DescribeSecretInput:
		return CallParams{SecretID: aws.ToString(v.SecretId)}
	case *secretsmanager.ReplicateSecretToRegionsInput:
		p := CallParams{SecretID: aws.ToString(v.SecretId), ForceOverwriteReplicaSecret: v.ForceOverwriteReplicaSecret}
		for _, r := range v.AddReplicaRegions {
			p.AddReplicaRegions = append(p.AddReplicaRegions, domain.ReplicaParam{Region: aws.ToString(r.Region), KMSKeyID: aws.ToString(r.KmsKeyId)})
		}
		return p
	case *secretsmanager.RemoveRegionsFromReplicationInput:
		return CallParams{SecretID: aws.ToString(v.SecretId), RemoveReplicaRegions: v.RemoveReplicaRegions}
	case *secretsmanager.StopReplicationToReplicaInput:
		return CallParams{SecretID: aws.ToString(v.SecretId)}
	}
	return CallParams{}
}
