package engine_test

import (
	"context"
	"testing"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

// TestAcceptedJobWakesAWorker: the accept's own job insert notifies the
// workers as River's insert does, so an operation is picked up at once, not
// at the next fetch poll (set here far beyond the test's deadline).
func TestAcceptedJobWakesAWorker(t *testing.T) {
	t.Parallel()
	_, url := smtest.Serve(t, standin.Options{})
	env := start(t, url, func(c *daemon.Config) { c.Engine.Queue.FetchPollInterval = 10 * time.Minute })
	ctx := context.Background()
	for i := range 3 {
		name := uniqueName("notify/s")
		seedSecret(t, url, "us-east-1", name)
		rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
		if err != nil {
			t.Fatal(err)
		}
		// Started within a minute: far below the poll interval, far above
		// a loaded machine's pickup. (Not its end: a snoozed wait comes
		// back through River's scheduler, which this test does not judge.)
		deadline := time.Now().Add(time.Minute)
		for {
			got, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: rep.GetOperation().GetId()})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.GetOperation().GetAwsCalls()) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("operation %d not picked up within a minute: %s", i, got.GetOperation().GetState())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
