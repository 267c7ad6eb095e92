package engine

import (
	"context"
	"time"

	"github.com/replicad/replicad/internal/queue"
	"github.com/replicad/replicad/store"
)

// rescueReason is stored on each rescued job (River's errors list): it
// carries no operation data.
const rescueReason = "rescued: the process executing it stopped sending heartbeats"

// RescueDead hands the jobs that processes silent for deadAfter were
// executing to whichever process fetches them first, so a process killed
// mid-operation stalls its work for seconds rather than for the queue's
// RescueAfter. Nothing else changes: the operation stays RUNNING and its
// next execution starts from what AWS reports, as after any crash, so no
// write whose effect is visible is sent again.
//
// The caller must itself be alive and have been so for at least deadAfter
// (daemon.rescueLoop): a process that was cut off from the database must
// not, on reconnecting first, declare the others dead for a silence that
// was its own.
func (e *Engine) RescueDead(ctx context.Context, deadAfter time.Duration) (int64, error) {
	dead, err := store.DeadInstances(ctx, e.work, deadAfter)
	if err != nil || len(dead) == 0 {
		return 0, err
	}
	n, err := queue.RescueJobsOf(ctx, e.work, dead, rescueReason)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		e.log.WarnContext(ctx, "rescued the jobs of processes whose heartbeat stopped", "jobs", n, "instances", dead)
	}
	return n, nil
}
