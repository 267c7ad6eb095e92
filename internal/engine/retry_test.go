package engine_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// Issue 12 item 10: a Promote whose StopReplicationToReplica AWS keeps
// answering with HTTP 500 (as moto does) must not be invisible and
// unstoppable.

// retryingConfig makes attempts quick: one SDK attempt per call, so each
// execution fails at once, and retries that wait long enough for a
// GetOperation to see the wait.
func retryingConfig(retryFor time.Duration) func(*daemon.Config) {
	return func(c *daemon.Config) {
		c.AWS.MaxAttempts = 1
		c.Engine.Queue.RetryBase = 200 * time.Millisecond
		c.Engine.Queue.RetryMax = 400 * time.Millisecond
		c.Engine.Queue.MaxAttempts = 1000
		c.Engine.RetryFor = retryFor
	}
}

// promoteFailing seeds a secret with an InSync replica in eu-west-1, makes
// StopReplicationToReplica fail with HTTP 500 and asks to promote the
// replica. It returns the secret's ARN and the Promote's operation.
func promoteFailing(t *testing.T, env *testenv.Env, sm *standin.Server, endpoint string) (string, *replicadv1.Operation) {
	t.Helper()
	ctx := context.Background()
	arn := seedSecret(t, endpoint, "us-east-1", uniqueName("retry/me"))
	rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: arn, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, env, rep.GetOperation())
	if err := sm.SetFaults(standin.Faults{FailingAPIs: []string{"StopReplicationToReplica"}}); err != nil {
		t.Fatal(err)
	}
	pro, err := env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: arn, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	return arn, pro.GetOperation()
}

// waitRetrying polls GetOperation until the operation shows that it waits
// to retry after a failed attempt.
func waitRetrying(t *testing.T, env *testenv.Env, id string, minAttempts int32) *replicadv1.Operation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := env.Client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		op := resp.GetOperation()
		if op.GetLastAttemptError() != nil && op.GetNextAttemptTime() != nil && op.GetAttempts() >= minAttempts {
			return op
		}
		if testenv.Terminal(op.GetState()) || time.Now().After(deadline) {
			t.Fatalf("operation never showed a retry (attempt >= %d): %s", minAttempts, protojson.Format(op))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRetryingOperationShowsLastErrorAttemptsAndNextAttempt: while it
// retries, GetOperation (gRPC and REST) and ListOperations show the last
// error in words (redacted), the attempt count, when the next attempt
// starts (the time the queue really uses) and the retry deadline.
func TestRetryingOperationShowsLastErrorAttemptsAndNextAttempt(t *testing.T) {
	t.Parallel()
	sm, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint, retryingConfig(time.Hour))
	arn, pro := promoteFailing(t, env, sm, endpoint)
	account := strings.Split(arn, ":")[4]

	op := waitRetrying(t, env, pro.GetId(), 2)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_RUNNING {
		t.Errorf("state %s, want RUNNING (its StopReplicationToReplica was tried)", op.GetState())
	}
	last := op.GetLastAttemptError()
	if codes.Code(last.GetCode()) != codes.Unavailable ||
		!strings.Contains(last.GetMessage(), "StopReplicationToReplica in eu-west-1 failed: InternalServiceError") {
		t.Errorf("last_attempt_error = %v %q, want UNAVAILABLE naming the call and AWS's error", codes.Code(last.GetCode()), last.GetMessage())
	}
	if op.GetError() != nil {
		t.Errorf("a retrying operation carries a final error: %v", op.GetError())
	}
	next, deadline := op.GetNextAttemptTime().AsTime(), op.GetRetryDeadline().AsTime()
	if op.GetRetryDeadline() == nil || deadline.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("retry_deadline %v, want about an hour (--retry-for) after the first failure", op.GetRetryDeadline())
	}
	if next.After(time.Now().Add(time.Second)) {
		t.Errorf("next_attempt_time %s is beyond the retry backoff's bound", next)
	}

	// The next attempt starts no earlier than the time shown.
	later := waitRetrying(t, env, pro.GetId(), op.GetAttempts()+1)
	var stops []time.Time
	for _, c := range later.GetAwsCalls() {
		if c.GetApi() == "StopReplicationToReplica" {
			stops = append(stops, c.GetTime().AsTime())
		}
	}
	if len(stops) < int(op.GetAttempts())+1 {
		t.Fatalf("%d StopReplicationToReplica calls recorded after %d attempts", len(stops), later.GetAttempts())
	}
	if after := stops[op.GetAttempts()]; after.Before(next) {
		t.Errorf("the next attempt's call went at %s, before the next_attempt_time shown (%s)", after, next)
	}

	// REST shows the same, in JSON.
	code, body := env.REST(t, http.MethodGet, "/v1/operations/"+pro.GetId(), nil)
	if code != http.StatusOK {
		t.Fatalf("REST GetOperation: %d %s", code, body)
	}
	var rest struct {
		Operation struct {
			Attempts         int    `json:"attempts"`
			NextAttemptTime  string `json:"next_attempt_time"`
			RetryDeadline    string `json:"retry_deadline"`
			LastAttemptError struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"last_attempt_error"`
		} `json:"operation"`
	}
	if err := json.Unmarshal(body, &rest); err != nil {
		t.Fatal(err)
	}
	if o := rest.Operation; o.Attempts < 2 || o.NextAttemptTime == "" || o.RetryDeadline == "" ||
		o.LastAttemptError.Code != int(codes.Unavailable) || !strings.Contains(o.LastAttemptError.Message, "InternalServiceError") {
		t.Errorf("REST operation does not show the retry: %s", body)
	}
	if strings.Contains(rest.Operation.LastAttemptError.Message, account) {
		t.Errorf("the account id appears in the last attempt's error: %s", body)
	}

	// ListOperations too.
	list, err := env.Client.ListOperations(context.Background(), &replicadv1.ListOperationsRequest{SecretId: arn})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range list.GetOperations() {
		if o.GetId() == pro.GetId() {
			found = o.GetLastAttemptError() != nil && o.GetRetryDeadline() != nil
		}
	}
	if !found {
		t.Errorf("ListOperations does not show the retrying Promote's last error: %v", list.GetOperations())
	}
}

// TestCancelRunningOperationBetweenAttempts: a RUNNING Promote whose
// StopReplicationToReplica was refused can be cancelled (gRPC and REST);
// the cancel wins over the next retry, the operation ends CANCELLED with
// its Region CANCELLED, AWS is unchanged, and the next operation on the
// secret proceeds.
func TestCancelRunningOperationBetweenAttempts(t *testing.T) {
	t.Parallel()
	sm, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint, retryingConfig(time.Hour))
	ctx := context.Background()

	for _, via := range []string{"grpc", "rest"} {
		arn, pro := promoteFailing(t, env, sm, endpoint)
		behind, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: arn, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := waitRetrying(t, env, pro.GetId(), 2); got.GetState() != replicadv1.OperationState_OPERATION_STATE_RUNNING {
			t.Fatalf("%s: Promote %s, want RUNNING", via, got.GetState())
		}

		cancelled := cancelBetweenAttempts(t, env, pro.GetId(), via)
		stopsAtCancel := sm.Stats().Region("eu-west-1").APIs["StopReplicationToReplica"].Requests
		if cancelled.GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED ||
			codes.Code(cancelled.GetError().GetCode()) != codes.Canceled || cancelled.GetNextAttemptTime() != nil {
			t.Errorf("%s: cancel answered %s", via, protojson.Format(cancelled))
		}
		if r := cancelled.GetRegions()[0]; r.GetState() != replicadv1.RegionState_REGION_STATE_CANCELLED || r.GetMessage() == "" {
			t.Errorf("%s: Region after cancel: %s %q, want CANCELLED with a message", via, r.GetState(), r.GetMessage())
		}

		// The operation behind it runs; then AWS shows no promotion and no
		// StopReplicationToReplica was sent after the cancel.
		mustSucceed(t, env, behind.GetOperation())
		if got := env.WaitOperation(t, pro.GetId(), time.Second); got.GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED {
			t.Errorf("%s: the cancelled Promote ended %s", via, got.GetState())
		}
		if n := sm.Stats().Region("eu-west-1").APIs["StopReplicationToReplica"].Requests; n != stopsAtCancel {
			t.Errorf("%s: %d StopReplicationToReplica calls after the cancel: the retry won over it", via, n-stopsAtCancel)
		}
		if got := replicaSet(describe(t, endpoint, "us-east-1", arn)); got["eu-west-1"] == "" || got["eu-west-3"] == "" {
			t.Errorf("%s: replicas = %v, want eu-west-1 (promotion cancelled) and eu-west-3", via, got)
		}
		if err := sm.SetFaults(standin.Faults{}); err != nil {
			t.Fatal(err)
		}
	}
}

// cancelBetweenAttempts cancels a retrying operation over gRPC or REST.
// Cancellation is best effort (AIP-151): a cancel that lands while an
// attempt is sending its call is refused as too late, as it must be, so
// the test tries again at the next wait between attempts, a few times.
func cancelBetweenAttempts(t *testing.T, env *testenv.Env, id, via string) *replicadv1.Operation {
	t.Helper()
	for try := 0; ; try++ {
		var code int
		var body []byte
		switch via {
		case "grpc":
			resp, err := env.Client.CancelOperation(context.Background(), &replicadv1.CancelOperationRequest{Id: id, Reason: "AWS keeps failing"})
			if err == nil {
				return resp.GetOperation()
			}
			code, body = int(status.Code(err)), []byte(status.Convert(err).Message())
			if status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("gRPC cancel of a RUNNING operation between attempts: %v", err)
			}
		case "rest":
			code, body = env.REST(t, http.MethodPost, "/v1/operations/"+id+":cancel", `{"reason": "AWS keeps failing"}`)
			if code == http.StatusOK {
				var resp replicadv1.CancelOperationResponse
				if err := protojson.Unmarshal(body, &resp); err != nil {
					t.Fatal(err)
				}
				return resp.GetOperation()
			}
		}
		if !strings.Contains(string(body), "too late") || try == 5 {
			t.Fatalf("%s cancel of a RUNNING operation between attempts (try %d): %d %s", via, try, code, body)
		}
		cur, err := env.Client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		waitRetrying(t, env, id, cur.GetOperation().GetAttempts()+1)
	}
}

// TestCancelRefusedOnceTheMutatingCallWentThrough: cancellation stays
// refused when AWS took the call (the replica was promoted): "too late".
func TestCancelRefusedOnceTheMutatingCallWentThrough(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{ReplicationDelay: time.Second})
	env := start(t, endpoint)
	ctx := context.Background()
	arn := seedSecret(t, endpoint, "us-east-1", uniqueName("late"))
	rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: arn, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	// RUNNING and InProgress: its ReplicateSecretToRegions went through.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: rep.GetOperation().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetOperation().GetState() == replicadv1.OperationState_OPERATION_STATE_RUNNING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never RUNNING: %s", protojson.Format(got.GetOperation()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, body := env.REST(t, http.MethodPost, "/v1/operations/"+rep.GetOperation().GetId()+":cancel", `{}`)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "too late to cancel") {
		t.Errorf("REST cancel after the call went through: %d %s, want 400 too late", code, body)
	}
	mustSucceed(t, env, rep.GetOperation())
}

// TestRetryDeadlineEndsOperationFailed: --retry-for bounds the retrying;
// the deadline is visible while it retries, and past it the operation ends
// FAILED with the last error, its Region FAILED, and the secret's next
// operation runs.
func TestRetryDeadlineEndsOperationFailed(t *testing.T) {
	t.Parallel()
	sm, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint, retryingConfig(2*time.Second))
	ctx := context.Background()
	arn, pro := promoteFailing(t, env, sm, endpoint)
	behind, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: arn, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3"}}})
	if err != nil {
		t.Fatal(err)
	}
	retrying := waitRetrying(t, env, pro.GetId(), 1)
	deadline := retrying.GetRetryDeadline().AsTime()
	if retrying.GetRetryDeadline() == nil || deadline.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("retry_deadline %v, want within --retry-for (2s) of the first failure", retrying.GetRetryDeadline())
	}

	op := env.WaitOperation(t, pro.GetId(), 30*time.Second)
	wantFailed(t, op, codes.Unavailable, "retry deadline")
	if msg := op.GetError().GetMessage(); !strings.Contains(msg, "StopReplicationToReplica in eu-west-1 failed: InternalServiceError") {
		t.Errorf("the final error does not carry the last attempt's: %q", msg)
	}
	if op.GetEndTime().AsTime().Before(deadline) {
		t.Errorf("ended at %s, before its retry deadline %s", op.GetEndTime().AsTime(), deadline)
	}
	if op.GetEndTime().AsTime().After(deadline.Add(5 * time.Second)) {
		t.Errorf("ended at %s, long after its retry deadline %s", op.GetEndTime().AsTime(), deadline)
	}
	if op.GetNextAttemptTime() != nil {
		t.Errorf("a FAILED operation shows a next attempt: %s", op.GetNextAttemptTime())
	}
	if r := op.GetRegions()[0]; r.GetState() != replicadv1.RegionState_REGION_STATE_FAILED || !strings.Contains(r.GetMessage(), "InternalServiceError") {
		t.Errorf("Region after the deadline: %s %q, want FAILED with the error", r.GetState(), r.GetMessage())
	}
	code, body := env.REST(t, http.MethodGet, "/v1/operations/"+pro.GetId(), nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"retry_deadline"`) || !strings.Contains(string(body), "OPERATION_STATE_FAILED") {
		t.Errorf("REST GetOperation after the deadline: %d %s", code, body)
	}
	mustSucceed(t, env, behind.GetOperation())
}

// Issue 12 item 12: every Region of an ended operation is in a terminal
// state that says what happened to it, and NOT_FOUND names the secret.
func TestEndedOperationsLeaveNoRegionPendingOrRunning(t *testing.T) {
	t.Parallel()
	sm, endpoint := smtest.Serve(t, standin.Options{ReplicationDelay: time.Hour})
	env := start(t, endpoint, func(c *daemon.Config) { c.Engine.ReplicationDeadline = 300 * time.Millisecond })
	ctx := context.Background()
	wantRegions := func(t *testing.T, op *replicadv1.Operation, want replicadv1.RegionState, inMessage string) {
		t.Helper()
		for _, r := range op.GetRegions() {
			if r.GetState() != want || !strings.Contains(r.GetMessage(), inMessage) {
				t.Errorf("Region %s ended %s %q, want %s with %q", r.GetRegion(), r.GetState(), r.GetMessage(), want, inMessage)
			}
		}
	}

	// NOT_FOUND before any call for the Regions: NOT_ATTEMPTED, and the
	// message names the secret with its account fingerprinted.
	const account = "565656565656"
	missing := "arn:aws:secretsmanager:us-east-1:" + account + ":secret:team/missing-AbCdEf"
	nf, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: missing,
		Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}, {Region: "eu-west-3"}}})
	if err != nil {
		t.Fatal(err)
	}
	op := env.WaitOperation(t, nf.GetOperation().GetId(), 10*time.Second)
	wantFailed(t, op, codes.NotFound, "team/missing-AbCdEf")
	if strings.Contains(op.GetError().GetMessage(), account) {
		t.Errorf("NOT_FOUND message shows the account id: %q", op.GetError().GetMessage())
	}
	wantRegions(t, op, replicadv1.RegionState_REGION_STATE_NOT_ATTEMPTED, "not attempted: secret ")
	code, body := env.REST(t, http.MethodGet, "/v1/operations/"+op.GetId(), nil)
	if code != http.StatusOK || strings.Count(string(body), "REGION_STATE_NOT_ATTEMPTED") != 2 || strings.Contains(string(body), "REGION_STATE_PENDING") {
		t.Errorf("REST: %d %s", code, body)
	}

	// A Region still InProgress at the replication deadline: FAILED.
	name := uniqueName("slow")
	seedSecret(t, endpoint, "us-east-1", name)
	slow, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "ap-south-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	op = env.WaitOperation(t, slow.GetOperation().GetId(), 10*time.Second)
	wantFailed(t, op, codes.DeadlineExceeded, "ap-south-1")
	wantRegions(t, op, replicadv1.RegionState_REGION_STATE_FAILED, "did not finish within")

	// A Promote refused before its call: NOT_ATTEMPTED.
	pro, err := env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: name, Region: "ap-south-1"})
	if err != nil {
		t.Fatal(err)
	}
	op = env.WaitOperation(t, pro.GetOperation().GetId(), 10*time.Second)
	wantFailed(t, op, codes.FailedPrecondition, "not InSync")
	wantRegions(t, op, replicadv1.RegionState_REGION_STATE_NOT_ATTEMPTED, "not InSync")

	// A cancelled PENDING operation: CANCELLED, over REST. A Remove waits
	// behind a Replicate of its secret that keeps failing.
	if err := sm.SetFaults(standin.Faults{FailingAPIs: []string{"ReplicateSecretToRegions"}}); err != nil {
		t.Fatal(err)
	}
	head, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: name, Regions: []string{"ap-south-1", "eu-west-2"}})
	if err != nil {
		t.Fatal(err)
	}
	code, body = env.REST(t, http.MethodPost, "/v1/operations/"+queued.GetOperation().GetId()+":cancel", `{}`)
	if code != http.StatusOK || strings.Count(string(body), "REGION_STATE_CANCELLED") != 2 {
		t.Errorf("REST cancel of a PENDING Remove: %d %s, want both Regions CANCELLED", code, body)
	}
	waitRetrying(t, env, head.GetOperation().GetId(), 1)
	cancelBetweenAttempts(t, env, head.GetOperation().GetId(), "grpc")
	op = env.WaitOperation(t, head.GetOperation().GetId(), 10*time.Second)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED {
		t.Errorf("head ended %s", op.GetState())
	}
	wantRegions(t, op, replicadv1.RegionState_REGION_STATE_CANCELLED, "cancelled before anything changed")
}

// TestPendingOperationShowsWhyItRetries: when even the first look at AWS
// fails (the primary's Region is down), the PENDING operation shows the
// error and its next attempt instead of no hint, and cancelling it ends
// its Regions CANCELLED.
func TestPendingOperationShowsWhyItRetries(t *testing.T) {
	t.Parallel()
	sm, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint, retryingConfig(time.Hour))
	name := uniqueName("down")
	seedSecret(t, endpoint, "us-east-1", name)
	if err := sm.SetFaults(standin.Faults{DownRegions: []string{"us-east-1"}}); err != nil {
		t.Fatal(err)
	}
	rep, err := env.Client.Replicate(context.Background(), &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	op := waitRetrying(t, env, rep.GetOperation().GetId(), 1)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_PENDING ||
		!strings.Contains(op.GetLastAttemptError().GetMessage(), "DescribeSecret in us-east-1 failed: ServiceUnavailable") {
		t.Errorf("a PENDING operation whose every call fails shows: %s", protojson.Format(op))
	}
	code, body := env.REST(t, http.MethodGet, "/v1/operations/"+op.GetId(), nil)
	if code != http.StatusOK || !strings.Contains(string(body), "ServiceUnavailable") || !strings.Contains(string(body), `"next_attempt_time"`) {
		t.Errorf("REST GetOperation of a retrying PENDING operation: %d %s", code, body)
	}
	cancelled := cancelBetweenAttempts(t, env, op.GetId(), "rest")
	if cancelled.GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED ||
		cancelled.GetRegions()[0].GetState() != replicadv1.RegionState_REGION_STATE_CANCELLED {
		t.Errorf("cancelled: %s", protojson.Format(cancelled))
	}
}

// TestStatusNotFoundNamesTheSecret: Status of a secret AWS does not know
// says which secret (account fingerprinted), over gRPC and REST.
func TestStatusNotFoundNamesTheSecret(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint)
	const account = "565656565656"
	missing := "arn:aws:secretsmanager:us-east-1:" + account + ":secret:team/gone-AbCdEf"
	_, err := env.Client.Status(context.Background(), &replicadv1.StatusRequest{SecretId: missing})
	if msg := status.Convert(err).Message(); status.Code(err) != codes.NotFound ||
		!strings.Contains(msg, "secret arn:aws:secretsmanager:us-east-1:") || !strings.Contains(msg, ":secret:team/gone-AbCdEf not found in us-east-1") ||
		strings.Contains(msg, account) {
		t.Errorf("Status of a missing secret: %v; want NotFound naming the secret without its account", err)
	}
	code, body := env.REST(t, http.MethodGet, "/v1/secrets/"+strings.ReplaceAll(missing, "/", "%2F")+"/replication", nil)
	if code != http.StatusNotFound || !strings.Contains(string(body), "team/gone-AbCdEf not found") || strings.Contains(string(body), account) {
		t.Errorf("REST Status of a missing secret: %d %s", code, body)
	}
}

// A write AWS applied but whose answer never reached replicad (the attempt
// timed out) is retried, by the SDK within the call or by the queue in a
// new execution. AWS refuses a second ReplicateSecretToRegions to a Region
// that now holds the replica, and a second StopReplicationToReplica of a
// secret that is no longer a replica; the operation must still end
// SUCCEEDED, not FAILED by the refusal of a write that had worked.
func TestWriteAppliedButItsAnswerLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		api         string
		sdkAttempts int
		// moto answers the retried ReplicateSecretToRegions with success
		// and a second, Failed entry for the Region, where the stand-in
		// refuses it: the engine must cope with both.
		moto bool
	}{
		{"replicate retried by the SDK within the call", "ReplicateSecretToRegions", 3, false},
		{"replicate retried by a new execution", "ReplicateSecretToRegions", 1, false},
		{"promote retried by the SDK within the call", "StopReplicationToReplica", 3, false},
		{"promote retried by a new execution", "StopReplicationToReplica", 1, false},
		{"replicate retried by the SDK within the call, moto", "ReplicateSecretToRegions", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sm http.Handler
			if tc.moto {
				testtier.Slow(t) // a moto_server process of its own
				target, err := url.Parse(moto.Start(t).URL)
				if err != nil {
					t.Fatal(err)
				}
				sm = httputil.NewSingleHostReverseProxy(target)
			} else {
				var err error
				if sm, err = standin.New(standin.Options{}); err != nil {
					t.Fatal(err)
				}
			}
			// Once armed, the first call of tc.api is applied and its
			// answer withheld until the client gives up on it; every other
			// request is served as usual.
			var armed atomic.Bool
			var lost atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if armed.Load() && strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+tc.api) && lost.Add(1) == 1 {
					sm.ServeHTTP(httptest.NewRecorder(), r)
					<-r.Context().Done()
					return
				}
				sm.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			endpoint := srv.URL
			env := start(t, endpoint, func(c *daemon.Config) {
				c.AWS.MaxAttempts = tc.sdkAttempts
				c.AWS.Timeout = 500 * time.Millisecond
				c.Engine.Queue.RetryBase = 100 * time.Millisecond
				c.Engine.Queue.RetryMax = 200 * time.Millisecond
			})
			ctx := context.Background()
			arn := seedSecret(t, endpoint, "us-east-1", uniqueName("lost/answer"))
			replicate := func() *replicadv1.Operation {
				rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: arn, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
				if err != nil {
					t.Fatal(err)
				}
				return mustSucceed(t, env, rep.GetOperation())
			}
			var op *replicadv1.Operation
			if tc.api == "ReplicateSecretToRegions" {
				armed.Store(true)
				op = replicate()
				// One InSync replica in eu-west-1; moto also keeps the
				// Failed entry it appended for the retry.
				inSync, other := 0, 0
				for _, r := range describe(t, endpoint, "us-east-1", arn).ReplicationStatus {
					switch {
					case aws.ToString(r.Region) == "eu-west-1" && r.Status == "InSync":
						inSync++
					case tc.moto && aws.ToString(r.Region) == "eu-west-1" && r.Status == "Failed":
					default:
						other++
					}
				}
				if inSync != 1 || other != 0 {
					t.Errorf("AWS shows %d InSync replicas in eu-west-1 and %d other entries, want one and none", inSync, other)
				}
			} else {
				replicate()
				armed.Store(true)
				pro, err := env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: arn, Region: "eu-west-1"})
				if err != nil {
					t.Fatal(err)
				}
				op = mustSucceed(t, env, pro.GetOperation())
				if out := describe(t, endpoint, "us-east-1", arn); len(out.ReplicationStatus) != 0 {
					t.Errorf("the primary still shows replicas %+v after the promotion", out.ReplicationStatus)
				}
			}
			if got := op.GetRegions(); len(got) != 1 || got[0].GetState() != replicadv1.RegionState_REGION_STATE_SUCCEEDED {
				t.Errorf("regions: %s", protojson.Format(op))
			}
			sends := 0
			for _, c := range op.GetAwsCalls() {
				if c.GetApi() == tc.api {
					sends++
				}
			}
			if lost.Load() == 0 || sends == 0 {
				t.Fatalf("no answer was withheld (%d calls of %s seen, %d recorded): the test tested nothing", lost.Load(), tc.api, sends)
			}
			if tc.sdkAttempts > 1 && sends < 2 {
				t.Errorf("the SDK did not retry the unanswered %s (%d attempts recorded): the case is not the one named", tc.api, sends)
			}
		})
	}
}
