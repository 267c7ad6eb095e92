package engine_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

// The repair loop keeps the promise that every accepted operation ends:
// an operation whose job River discarded is failed and its secret's queue
// moves on; a queue left without a head is restarted.
func TestRepairUnsticksChains(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint, func(c *daemon.Config) { c.Engine.Queue.InsertOnly = true })
	ctx := context.Background()
	lost, headless := uniqueName("lost"), uniqueName("headless")
	seedSecret(t, endpoint, "us-east-1", lost)
	seedSecret(t, endpoint, "us-east-1", headless)

	submit := func(secret, region string) string {
		resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: secret, Regions: []*replicadv1.ReplicaRegion{{Region: region}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOperation().GetId()
	}
	lostHead, lostNext := submit(lost, "eu-west-1"), submit(lost, "eu-west-3")
	headlessOp := submit(headless, "eu-west-1")

	// River discarded the first head's job (say, after repeated panics)...
	if _, err := env.DB.Exec(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now()
		WHERE id = (SELECT job_id FROM operations WHERE id = $1)`, lostHead); err != nil {
		t.Fatal(err)
	}
	// ...and the second secret's head lost its job altogether.
	if _, err := env.DB.Exec(ctx, `DELETE FROM river_job WHERE id = (SELECT job_id FROM operations WHERE id = $1)`, headlessOp); err != nil {
		t.Fatal(err)
	}
	if _, err := env.DB.Exec(ctx, `UPDATE operations SET job_id = NULL WHERE id = $1`, headlessOp); err != nil {
		t.Fatal(err)
	}

	env.Config.Engine.Queue.InsertOnly = false
	env.Config.Engine.RepairInterval = 200 * time.Millisecond
	env.Restart(t)

	op := env.WaitOperation(t, lostHead, 15*time.Second)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_FAILED || codes.Code(op.GetError().GetCode()) != codes.Internal {
		t.Errorf("stranded head: %s %v", op.GetState(), op.GetError())
	}
	mustSucceed(t, env, &replicadv1.Operation{Id: lostNext})
	mustSucceed(t, env, &replicadv1.Operation{Id: headlessOp})
}
