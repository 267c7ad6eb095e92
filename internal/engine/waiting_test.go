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
	"github.com/replicad/replicad/internal/standin"
)

// With two workers and a replication delay far longer than a pickup, many
// operations wait for AWS at once: waiting holds no worker. Under the old
// inline polling the 16 operations drained two at a time, so every
// operation's start would not precede every end.
func TestWaitingHoldsNoWorker(t *testing.T) {
	t.Parallel()
	const (
		n       = 16
		workers = 2
		delay   = 5 * time.Second
	)
	_, endpoint := startStandin(t, standin.Options{ReplicationDelay: delay})
	env := start(t, endpoint, func(c *daemon.Config) {
		c.Engine.Queue.Workers = workers
		c.Engine.PollMax = time.Second
	})
	ctx := context.Background()
	ids := make([]string, n)
	// While AWS replicates, GetOperation shows the Region InProgress, as
	// replictl --wait prints it. Watched from the moment the first
	// operation is accepted, while the others are submitted: on a loaded
	// machine submitting them all can take longer than the replication.
	inProgress := make(chan error, 1)
	watch := func(id string) {
		for {
			resp, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id})
			if err != nil {
				inProgress <- err
				return
			}
			op := resp.GetOperation()
			if op.GetState() == replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
				inProgress <- fmt.Errorf("operation succeeded before any InProgress was visible: %s", protojson.Format(op))
				return
			}
			if op.GetRegions()[0].GetReplicationStatus() == replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS {
				inProgress <- nil
				return
			}
		}
	}
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
			if i == 0 {
				go watch(ids[0])
			}
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

	if err := <-inProgress; err != nil {
		t.Fatal(err)
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
