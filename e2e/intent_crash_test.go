package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// Issue 12 item 4: kill -9 after a ReplicateSecretToRegions reached AWS
// (the stand-in applied it) but before its answer was recorded. The call's
// write-ahead intent makes it visible — while in flight and after the
// crash — as "outcome unknown" in the operation's aws_calls; the successor
// adopts it, finds the replicas with DescribeSecret and finishes the
// operation without sending the call again.
func TestCrashBetweenIntentAndOutcome(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	ctx := context.Background()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	flags := []string{"--workers", "2", "--job-timeout", "8s", "--rescue-after", "10s"}
	p1 := c.start(t, "replicad-1", flags...)
	name := sm.seed(t, 1, "intent")[0]
	// Every write is applied at once and answered a minute later.
	if err := sm.SetFaults(standin.Faults{WriteAnswerDelay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	resp, err := p1.client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3"}, {Region: "us-west-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetOperation().GetId()
	db := connect(t, c.dbURL)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var open int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM aws_call_intents WHERE operation_id = $1 AND outcome IS NULL
			AND api = 'ReplicateSecretToRegions'`, id).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if r := sm.replicas(t, name); open == 1 && r["eu-west-3"] && r["us-west-2"] {
			break // applied by "AWS", answer not yet received
		}
		if time.Now().After(deadline) {
			t.Fatalf("no open intent with the replicas applied after 20s (open intents %d)", open)
		}
		time.Sleep(10 * time.Millisecond)
	}
	unknown := func(op *replicadv1.Operation) (unknown, answered int) {
		for _, c := range op.GetAwsCalls() {
			if c.GetApi() != "ReplicateSecretToRegions" {
				continue
			}
			if c.GetOutcomeUnknown() {
				unknown++
				if c.GetRequestId() != "" || c.GetTime() == nil {
					t.Errorf("an unknown-outcome call with request id %q, time %v", c.GetRequestId(), c.GetTime())
				}
			} else {
				answered++
			}
		}
		return unknown, answered
	}
	// In flight: already visible.
	inFlight, err := p1.client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if u, a := unknown(inFlight.GetOperation()); u != 1 || a != 0 {
		t.Fatalf("in flight: %d unknown-outcome and %d answered ReplicateSecretToRegions, want 1 and 0: %s", u, a, protojson.Format(inFlight.GetOperation()))
	}
	p1.kill9(t)
	if err := sm.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}

	p2 := c.start(t, "replicad-2", flags...)
	// Visible before any successor adopts it (the job is rescued later).
	crashed, err := p2.client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := unknown(crashed.GetOperation()); u != 1 {
		t.Errorf("after the crash: %d unknown-outcome calls, want 1: %s", u, protojson.Format(crashed.GetOperation()))
	}
	final := waitAll(t, p2.client, []submitted{{id: id, replicate: true}}, 90*time.Second)[id]
	if u, a := unknown(final); u != 1 || a != 0 {
		t.Errorf("finished: %d unknown-outcome and %d answered ReplicateSecretToRegions, want 1 and 0: %s", u, a, protojson.Format(final))
	}
	for _, r := range final.GetRegions() {
		if r.GetState() != replicadv1.RegionState_REGION_STATE_SUCCEEDED {
			t.Errorf("region %s ended %s", r.GetRegion(), r.GetState())
		}
	}
	if got := sm.Stats().Region("us-east-1").APIs["ReplicateSecretToRegions"].Requests; got != 1 {
		t.Errorf("ReplicateSecretToRegions sent %d times, want once: the cut-off call was repeated", got)
	}
	var outcome string
	if err := db.QueryRow(ctx, `SELECT coalesce(outcome, '') FROM aws_call_intents WHERE operation_id = $1 AND api = 'ReplicateSecretToRegions'`, id).Scan(&outcome); err != nil {
		t.Fatal(err)
	}
	if outcome != "unknown" {
		t.Errorf("intent outcome %q after adoption, want unknown", outcome)
	}
	if len(p2.logs.lines("aws_call_outcome_unknown")) == 0 {
		t.Error("the successor did not log the adopted call")
	}
	if ov := sm.Overlaps(); len(ov) > 0 {
		t.Errorf("overlapping mutating calls on %s", strings.Join(ov, ", "))
	}
}
