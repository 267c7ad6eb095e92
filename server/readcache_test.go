package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// TestReadsAcrossReplicasAreNeverStale: replica A only serves the API,
// replica B on the same database runs the workers and takes a cancel. What
// B changes shows at once in A's GetOperation and Status (over gRPC and
// REST), although A keeps finished operations in memory: an unfinished one
// is read from PostgreSQL every time, and a finished one, read again from
// A's memory, is exactly what B reads from the database.
func TestReadsAcrossReplicasAreNeverStale(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm, srvURL := smtest.Serve(t, standin.Options{})
	ctx := context.Background()
	const name = "readcache/secret"
	if _, err := sm.Seed(ctx, "us-east-1", name, "v"); err != nil {
		t.Fatal(err)
	}
	a := testenv.Start(t, testenv.Options{AWSEndpoint: srvURL, Configure: func(c *daemon.Config) {
		c.Engine.Queue.InsertOnly = true
		// Only the operations' own changes may refresh a Status here.
		c.Engine.StatusCacheTTL = 10 * time.Minute
	}})
	b := a.Peer(t, func(c *daemon.Config) { c.Engine.Queue.InsertOnly = false })
	// Slow AWS keeps the first operation unfinished while A reads it.
	if err := sm.SetFaults(standin.Faults{Latency: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}

	replicate := func(region string) string {
		t.Helper()
		resp, err := a.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name,
			Regions: []*replicadv1.ReplicaRegion{{Region: region}}, Reason: "read cache test"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOperation().GetId()
	}
	first := replicate("eu-west-1")
	second := replicate("eu-west-2") // queued behind the first: PENDING

	get := func(env *testenv.Env, id string) *replicadv1.Operation {
		t.Helper()
		resp, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOperation()
	}
	getREST := func(env *testenv.Env, id string) map[string]any {
		t.Helper()
		code, body := env.REST(t, "GET", "/v1/operations/"+id, nil)
		if code != http.StatusOK {
			t.Fatalf("REST GetOperation %s: %d %s", id, code, body)
		}
		var m struct {
			Operation map[string]any `json:"operation"`
		}
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m.Operation == nil {
			t.Fatalf("REST GetOperation %s: no operation in %s", id, body)
		}
		return m.Operation
	}
	recent := func(id string) (grpcState replicadv1.OperationState, restState string) {
		t.Helper()
		resp, err := a.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range resp.GetRecentOperations() {
			if op.GetId() == id {
				grpcState = op.GetState()
			}
		}
		code, body := a.REST(t, "GET", "/v1/secrets/"+escape(name)+"/replication", nil)
		if code != http.StatusOK {
			t.Fatalf("REST Status: %d %s", code, body)
		}
		var st struct {
			RecentOperations []struct{ ID, State string } `json:"recent_operations"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		for _, op := range st.RecentOperations {
			if op.ID == id {
				restState = op.State
			}
		}
		return grpcState, restState
	}

	// A reads both unfinished operations, then B cancels the second.
	if s := get(a, second).GetState(); s != replicadv1.OperationState_OPERATION_STATE_PENDING {
		t.Fatalf("second operation before the cancel: %s, want PENDING", s)
	}
	if s := getREST(a, second)["state"]; s != "OPERATION_STATE_PENDING" {
		t.Fatalf("REST: second operation before the cancel: %v, want PENDING", s)
	}
	if g, r := recent(second); g != replicadv1.OperationState_OPERATION_STATE_PENDING || r != "OPERATION_STATE_PENDING" {
		t.Fatalf("Status before the cancel: second operation %s (REST %q), want PENDING", g, r)
	}
	if s := get(a, first).GetState(); testenv.Terminal(s) {
		t.Fatalf("first operation already %s: AWS was not slow enough for this test to read it unfinished", s)
	}
	if _, err := b.Client.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: second}); err != nil {
		t.Fatal(err)
	}
	const cancelled = replicadv1.OperationState_OPERATION_STATE_CANCELLED
	if s := get(a, second).GetState(); s != cancelled {
		t.Fatalf("A's GetOperation right after B's cancel: %s, want CANCELLED", s)
	}
	if s := getREST(a, second)["state"]; s != "OPERATION_STATE_CANCELLED" {
		t.Fatalf("A's REST GetOperation right after B's cancel: %v, want CANCELLED", s)
	}
	if g, r := recent(second); g != cancelled || r != "OPERATION_STATE_CANCELLED" {
		t.Fatalf("A's Status right after B's cancel: second operation %s (REST %q), want CANCELLED", g, r)
	}

	// B works the first to its end: A shows exactly what B reads.
	done := b.WaitOperation(t, first, time.Minute)
	if done.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("first operation: %s, want SUCCEEDED", done.GetState())
	}
	if g, r := recent(first); g != done.GetState() || r != "OPERATION_STATE_SUCCEEDED" {
		t.Fatalf("A's Status once B finished the first operation: %s (REST %q), want SUCCEEDED", g, r)
	}
	for _, id := range []string{first, second} {
		want := get(b, id)
		wantREST := getREST(b, id)
		for range 3 { // the first read fills A's cache; the others are served from it
			if got := get(a, id); !proto.Equal(got, want) {
				t.Fatalf("A's GetOperation %s:\n%v\nB reads:\n%v", id, got, want)
			}
			if got := getREST(a, id); !jsonEqual(got, wantREST) {
				t.Fatalf("A's REST GetOperation %s:\n%v\nB reads:\n%v", id, got, wantREST)
			}
		}
	}
	// And Status's recent operations, twice (summaries from the cache the
	// second time), agree with B's full reads where a summary shows them.
	for range 2 {
		resp, err := a.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: name})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, op := range resp.GetRecentOperations() {
			ids = append(ids, op.GetId())
			full := get(b, op.GetId())
			if op.GetState() != full.GetState() || !proto.Equal(op.GetUpdateTime(), full.GetUpdateTime()) ||
				!proto.Equal(op.GetError(), full.GetError()) || len(op.GetRegions()) != len(full.GetRegions()) {
				t.Fatalf("A's Status shows %s as\n%v\nB reads\n%v", op.GetId(), op, full)
			}
		}
		if len(ids) != 2 || ids[0] != second || ids[1] != first {
			t.Fatalf("A's Status recent operations %v, want [%s %s] (newest first)", ids, second, first)
		}
	}
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
