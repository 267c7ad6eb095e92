package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

// With two workers and replicas held InProgress until every operation has
// been seen waiting, many operations wait for AWS at once: waiting holds no
// worker. Under the old inline polling the 16 operations drained two at a
// time: no more than two would ever be InProgress, and the wait below would
// end in its deadline.
func TestWaitingHoldsNoWorker(t *testing.T) {
	t.Parallel()
	const (
		n       = 16
		workers = 2
	)
	// Replicas stay InProgress until EndReplicationDelay: however slow the
	// machine, the operations cannot finish before all were submitted.
	sm, endpoint := smtest.Serve(t, standin.Options{ReplicationDelay: time.Hour})
	env := start(t, endpoint, func(c *daemon.Config) {
		c.Engine.Queue.Workers = workers
		c.Engine.PollMax = time.Second
	})
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		name := uniqueName(fmt.Sprintf("wait/s%d", i))
		seedSecret(t, endpoint, "us-east-1", name)
		if i%2 == 0 {
			resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name,
				Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3"}}})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = resp.GetOperation().GetId()
			continue
		}
		status, body := env.REST(t, http.MethodPost, "/v1/secrets/"+strings.ReplaceAll(name, "/", "%2F")+":replicate",
			`{"regions": [{"region": "eu-west-3"}]}`)
		if status != http.StatusOK {
			t.Fatalf("replicate over REST: %d %s", status, body)
		}
		var rep replicadv1.ReplicateResponse
		if err := protojson.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
		ids[i] = rep.GetOperation().GetId()
	}

	// While AWS replicates, GetOperation shows the Region InProgress, as
	// replictl --wait prints it: all n at once, on two workers.
	waiting := map[string]bool{}
	for deadline := time.Now().Add(30 * time.Second); len(waiting) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d operations were seen waiting for AWS at once with %d workers", len(waiting), n, workers)
		}
		for _, id := range ids {
			if waiting[id] {
				continue
			}
			resp, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			op := resp.GetOperation()
			if op.GetState() != replicadv1.OperationState_OPERATION_STATE_RUNNING &&
				op.GetState() != replicadv1.OperationState_OPERATION_STATE_PENDING {
				t.Fatalf("operation %s ended before its replica was InSync: %s", id, protojson.Format(op))
			}
			if op.GetRegions()[0].GetReplicationStatus() == replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS {
				waiting[id] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := sm.EndReplicationDelay(); got != n {
		t.Fatalf("finished %d replications, want %d", got, n)
	}

	var lastStart, firstEnd time.Time
	for _, id := range ids {
		op := env.WaitOperation(t, id, time.Minute)
		if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
			t.Fatalf("operation %s ended %s: %s", id, op.GetState(), protojson.Format(op))
		}
		if c := apis(op)["ReplicateSecretToRegions"]; c != 1 {
			t.Errorf("operation %s called ReplicateSecretToRegions %d times, want 1", id, c)
		}
		if s := op.GetStartTime().AsTime(); s.After(lastStart) {
			lastStart = s
		}
		if e := op.GetEndTime().AsTime(); firstEnd.IsZero() || e.Before(firstEnd) {
			firstEnd = e
		}
	}
	// Every operation had made its AWS call before any finished: all n
	// were waiting at once, on two workers.
	if !lastStart.Before(firstEnd) {
		t.Errorf("the last operation started at %s, after the first ended at %s: fewer than %d waited at once with %d workers",
			lastStart.Format(time.RFC3339Nano), firstEnd.Format(time.RFC3339Nano), n, workers)
	}
}
