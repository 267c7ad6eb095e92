package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// describeCalls is how many DescribeSecret requests the stand-in answered
// in us-east-1, where the test's secret lives.
func describeCalls(sm *standin.Server) int64 {
	return sm.Stats().Region("us-east-1").APIs["DescribeSecret"].Requests
}

// TestStatusSharesOneDescribeSecret: concurrent Status callers of one
// secret, over gRPC and REST, cost AWS one DescribeSecret call; once
// replicad's own operation on the secret ends, the next Status asks AWS
// again and shows what the operation changed, however long the TTL.
func TestStatusSharesOneDescribeSecret(t *testing.T) {
	t.Parallel()
	sm, srvURL := smtest.Serve(t, standin.Options{})
	env := testenv.Start(t, testenv.Options{AWSEndpoint: srvURL, Configure: func(c *daemon.Config) {
		// Longer than the test: only invalidation can refresh an answer.
		c.Engine.StatusCacheTTL = 10 * time.Minute
	}})
	ctx := context.Background()
	const name = "cached/secret"
	if _, err := sm.Seed(ctx, "us-east-1", name, "v"); err != nil {
		t.Fatal(err)
	}

	// Every caller arrives while the first call is still in flight.
	if err := sm.SetFaults(standin.Faults{Latency: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	before := describeCalls(sm)
	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*callers)
	for i := range 2 * callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				resp, err := env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: name})
				if err == nil && len(resp.GetReplicas()) != 0 {
					t.Errorf("gRPC Status before any replication: %v", resp.GetReplicas())
				}
				errs <- err
				return
			}
			if code, body := env.REST(t, "GET", "/v1/secrets/"+escape(name)+"/replication", nil); code != http.StatusOK {
				t.Errorf("REST Status: %d %s", code, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := describeCalls(sm) - before; got != 1 {
		t.Fatalf("%d concurrent Status calls made %d DescribeSecret calls, want 1", 2*callers, got)
	}
	if err := sm.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}

	// Warm: no call at all.
	before = describeCalls(sm)
	if _, err := env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: name}); err != nil {
		t.Fatal(err)
	}
	if got := describeCalls(sm) - before; got != 0 {
		t.Fatalf("a warm Status made %d DescribeSecret calls", got)
	}

	// replicad's own Replicate ends: gRPC Status shows the new replica.
	rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: regions("eu-west-1")})
	if err != nil {
		t.Fatal(err)
	}
	if op := env.WaitOperation(t, rep.GetOperation().GetId(), 10*time.Second); op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("replicate: %v", op)
	}
	st, err := env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: name})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetReplicas()) != 1 || st.GetReplicas()[0].GetRegion() != "eu-west-1" {
		t.Fatalf("Status after Replicate ended shows replicas %v, want eu-west-1", st.GetReplicas())
	}

	// The same over REST after a Remove accepted over REST ends.
	code, body := env.REST(t, "POST", "/v1/secrets/"+escape(name)+":removeRegions", `{"regions": ["eu-west-1"]}`)
	if code != http.StatusOK {
		t.Fatalf("REST remove: %d %s", code, body)
	}
	var removed struct {
		Operation struct {
			ID string `json:"id"`
		} `json:"operation"`
	}
	if err := json.Unmarshal(body, &removed); err != nil {
		t.Fatal(err)
	}
	if op := env.WaitOperation(t, removed.Operation.ID, 10*time.Second); op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("remove: %v", op)
	}
	code, body = env.REST(t, "GET", "/v1/secrets/"+escape(name)+"/replication", nil)
	if code != http.StatusOK {
		t.Fatalf("REST Status: %d %s", code, body)
	}
	var status struct {
		Replicas []json.RawMessage `json:"replicas"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		t.Fatal(err)
	}
	if len(status.Replicas) != 0 {
		t.Fatalf("REST Status after Remove ended still shows replicas: %s", body)
	}
}
