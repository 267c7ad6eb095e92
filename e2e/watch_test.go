package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// The watcher's count of writes sent, by which the crash tests judge a
// write sent twice. A write whose client goes away while it crosses the
// stand-in's latency, as a process killed mid-send does, never reached AWS:
// not counted (it was, once, and TestKillDuringReconciliationLosesAndDuplicatesNothing
// failed on the survivor's correct resend). One that reached AWS is, and
// so is a second, although AWS refuses it: a real duplicate still shows.
// No process and no database: it runs under -short too.
func TestWatchedStandinCountsTheWritesAWSReceived(t *testing.T) {
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{Faults: standin.Faults{Latency: time.Minute}})
	ctx := context.Background()
	arn, err := sm.Seed(ctx, "us-east-1", "watch/one", "v")
	if err != nil {
		t.Fatal(err)
	}
	id, err := secretid.Parse(arn)
	if err != nil {
		t.Fatal(err)
	}
	write := [3]string{"ReplicateSecretToRegions", id.Key(), "us-west-2"}
	east := testenv.SecretsManager(sm.URL, "us-east-1")
	replicate := func(ctx context.Context) error {
		_, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String(arn),
			AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("us-west-2")}}})
		return err
	}
	// inFlight is the watcher's count of the secret's mutating calls it is
	// handling, from arrival to answer.
	waitInFlight := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			sm.mu.Lock()
			n := sm.inFlight[id.Key()]
			sm.mu.Unlock()
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d mutating calls in flight after 30s, want %d", n, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	cut, cancel := context.WithCancel(ctx)
	sent := make(chan error, 1)
	go func() { sent <- replicate(cut) }()
	waitInFlight(1)
	cancel()
	if err := <-sent; err == nil {
		t.Fatal("a write cancelled during the latency succeeded")
	}
	waitInFlight(0)
	if w := sm.Writes(); len(w) != 0 {
		t.Errorf("a write cut off before AWS received it counted as sent: %v", w)
	}

	if err := sm.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := replicate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sm.Writes()[write]; got != 1 {
		t.Errorf("a write AWS took counted %d times, want 1", got)
	}
	if err := replicate(ctx); err == nil {
		t.Error("AWS took the same replica twice")
	}
	if got := sm.Writes()[write]; got != 2 {
		t.Errorf("after a second write: counted %d times, want 2", got)
	}
	if w := sm.Writes(); len(w) != 1 {
		t.Errorf("writes %v, want only %v", w, write)
	}
}
