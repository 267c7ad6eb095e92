package engine_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

func wantFailed(t *testing.T, op *replicadv1.Operation, code codes.Code, inMessage string) {
	t.Helper()
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_FAILED || codes.Code(op.GetError().GetCode()) != code ||
		!strings.Contains(op.GetError().GetMessage(), inMessage) {
		t.Errorf("operation ended %s with %v %q; want FAILED with %v containing %q: %s",
			op.GetState(), codes.Code(op.GetError().GetCode()), op.GetError().GetMessage(), code, inMessage, protojson.Format(op))
	}
}

// Permanent AWS errors end the operation at once, with AWS's message and
// without retry storms.
func TestPermanentErrorsFailQuickly(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint)
	ctx := context.Background()

	resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "does/not/exist", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	op := env.WaitOperation(t, resp.GetOperation().GetId(), 10*time.Second)
	took := time.Since(began)
	wantFailed(t, op, codes.NotFound, "ResourceNotFoundException")
	if len(op.GetAwsCalls()) != 1 || op.GetAttempts() != 1 {
		t.Errorf("a permanent error was retried: %d calls, %d attempts", len(op.GetAwsCalls()), op.GetAttempts())
	}
	// Quickly means the first failure ended the operation: it never went
	// through the retry path, which records the attempt's error and starts
	// the retry clock before it decides whether to give up. That holds on
	// a loaded machine too, where the wall-clock time below does not.
	if op.GetLastAttemptError() != nil || op.GetRetryDeadline() != nil || op.GetNextAttemptTime() != nil {
		t.Errorf("a permanent error went through the retry path: last attempt error %v, retry deadline %v, next attempt %v",
			op.GetLastAttemptError(), op.GetRetryDeadline(), op.GetNextAttemptTime())
	}
	t.Logf("the operation failed %s after it was accepted", took)
	if testtier.Measuring() && took > 3*time.Second {
		t.Errorf("a permanent error took %s to fail the operation", took)
	}

	// Status of an unknown secret: NotFound over gRPC, 404 over REST.
	_, err = env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: "does/not/exist"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Status of unknown secret: %v, want NotFound", err)
	}
	if code, body := env.REST(t, http.MethodGet, "/v1/secrets/does%2Fnot%2Fexist/replication", nil); code != http.StatusNotFound {
		t.Errorf("REST Status of unknown secret: %d %s", code, body)
	}

	// Promoting a secret that is no replica.
	name := uniqueName("solo")
	seedSecret(t, endpoint, "eu-west-1", name)
	pro, err := env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: name, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, env.WaitOperation(t, pro.GetOperation().GetId(), 10*time.Second), codes.FailedPrecondition, "not a replica")
}

// A same-named secret in the target Region makes that Region Failed with
// AWS's message; force_overwrite_replica_secret replaces it.
func TestNameConflictAndForceOverwrite(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint)
	ctx := context.Background()
	name := uniqueName("shared/name")
	seedSecret(t, endpoint, "us-east-1", name)
	seedSecret(t, endpoint, "eu-west-1", name) // an unrelated secret with the same name

	resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}, {Region: "eu-west-3"}}})
	if err != nil {
		t.Fatal(err)
	}
	op := env.WaitOperation(t, resp.GetOperation().GetId(), 10*time.Second)
	wantFailed(t, op, codes.FailedPrecondition, "already exists")
	if op.GetRegions()[0].GetState() != replicadv1.RegionState_REGION_STATE_FAILED || op.GetRegions()[1].GetState() != replicadv1.RegionState_REGION_STATE_SUCCEEDED {
		t.Errorf("per-Region outcome: %s", protojson.Format(op))
	}

	forced, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, ForceOverwriteReplicaSecret: true,
		Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, env, forced.GetOperation())
	if got := replicaSet(describe(t, endpoint, "us-east-1", name)); got["eu-west-1"] != "InSync" {
		t.Errorf("after force-overwrite, replicas = %v", got)
	}
}

// Promote refuses a replica that is not InSync unless forced.
func TestPromoteNeedsInSyncUnlessForced(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{ReplicationDelay: time.Hour})
	env := start(t, endpoint, func(c *daemon.Config) { c.Engine.ReplicationDeadline = 500 * time.Millisecond })
	ctx := context.Background()
	name := uniqueName("slow")
	seedSecret(t, endpoint, "us-east-1", name)

	rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "ap-south-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, env.WaitOperation(t, rep.GetOperation().GetId(), 10*time.Second), codes.DeadlineExceeded, "ap-south-1")

	pro, err := env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: name, Region: "ap-south-1"})
	if err != nil {
		t.Fatal(err)
	}
	op := env.WaitOperation(t, pro.GetOperation().GetId(), 10*time.Second)
	wantFailed(t, op, codes.FailedPrecondition, "InProgress, not InSync")
	if apis(op)["StopReplicationToReplica"] != 0 {
		t.Error("a refused promotion called StopReplicationToReplica")
	}
	forced, err := env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: name, Region: "ap-south-1", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, env, forced.GetOperation())
}

// CancelOperation stops what has not started its AWS call and says clearly
// when it is too late.
func TestCancel(t *testing.T) {
	t.Parallel()
	// The first operation's replica stays InProgress (the operation
	// RUNNING) until the cancellations are done.
	sm, endpoint := smtest.Serve(t, standin.Options{ReplicationDelay: time.Hour})
	env := start(t, endpoint)
	ctx := context.Background()
	name := uniqueName("cancel/me")
	seedSecret(t, endpoint, "us-east-1", name)

	first, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: name, Regions: []string{"eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the first is RUNNING (its AWS call made, now waiting for
	// InSync); the second waits behind it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: first.GetOperation().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetOperation().GetState() == replicadv1.OperationState_OPERATION_STATE_RUNNING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first operation never RUNNING: %v", got.GetOperation().GetState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = env.Client.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: first.GetOperation().GetId()})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "too late") {
		t.Errorf("cancelling a RUNNING operation: %v, want FailedPrecondition saying it is too late", err)
	}
	code, body := env.REST(t, http.MethodPost, "/v1/operations/"+second.GetOperation().GetId()+":cancel", `{"reason": "changed my mind"}`)
	if code != http.StatusOK || !strings.Contains(string(body), "OPERATION_STATE_CANCELLED") {
		t.Fatalf("REST cancel of a PENDING operation: %d %s", code, body)
	}
	again, err := env.Client.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: second.GetOperation().GetId()})
	if err != nil || again.GetOperation().GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED {
		t.Errorf("cancelling a CANCELLED operation again: %v, %v", again, err)
	}
	// RUNNING may precede the AWS call: the first replica may not exist
	// yet, and then is InSync at once.
	sm.EndReplicationDelay()
	third, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3"}}})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, env, first.GetOperation())
	mustSucceed(t, env, third.GetOperation())
	// The cancelled Remove never ran: eu-west-1 is still a replica.
	if got := replicaSet(describe(t, endpoint, "us-east-1", name)); got["eu-west-1"] == "" || got["eu-west-3"] == "" {
		t.Errorf("replicas = %v, want eu-west-1 (remove cancelled) and eu-west-3", got)
	}
	cancelled := env.WaitOperation(t, second.GetOperation().GetId(), time.Second)
	if len(cancelled.GetAwsCalls()) != 0 {
		t.Errorf("a cancelled operation made AWS calls: %v", apis(cancelled))
	}
	_, err = env.Client.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: first.GetOperation().GetId()})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("cancelling a finished operation: %v, want FailedPrecondition", err)
	}
}
