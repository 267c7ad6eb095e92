package e2e

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

var regionPool = []string{"eu-west-1", "eu-west-3", "us-west-2", "ap-south-1"}

type submitted struct {
	id, secret string
	replicate  bool
	regions    []string
}

// submitWorkload sends perSecret Replicate/Remove operations for each secret
// through client, interleaving secrets.
func submitWorkload(t *testing.T, client replicadv1.ReplicationServiceClient, secrets []string, perSecret int, seed uint64) []submitted {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var out []submitted
	for range perSecret {
		for _, s := range secrets {
			regions := append([]string(nil), regionPool...)
			rng.Shuffle(len(regions), func(i, j int) { regions[i], regions[j] = regions[j], regions[i] })
			sub := submitted{secret: s, replicate: rng.IntN(3) > 0, regions: regions[:1+rng.IntN(2)]}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if sub.replicate {
				var rr []*replicadv1.ReplicaRegion
				for _, r := range sub.regions {
					rr = append(rr, &replicadv1.ReplicaRegion{Region: r})
				}
				resp, err := client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: s, Regions: rr})
				if err != nil {
					t.Fatal(err)
				}
				sub.id = resp.GetOperation().GetId()
			} else {
				resp, err := client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: s, Regions: sub.regions})
				if err != nil {
					t.Fatal(err)
				}
				sub.id = resp.GetOperation().GetId()
			}
			cancel()
			out = append(out, sub)
		}
	}
	return out
}

// waitAll waits until every operation is terminal, reading them through
// client, and fails the test on any that did not succeed.
func waitAll(t *testing.T, client replicadv1.ReplicationServiceClient, ops []submitted, timeout time.Duration) map[string]*replicadv1.Operation {
	t.Helper()
	deadline := time.Now().Add(timeout)
	done := map[string]*replicadv1.Operation{}
	for len(done) < len(ops) {
		for _, o := range ops {
			if done[o.id] != nil {
				continue
			}
			resp, err := client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: o.id})
			if err != nil {
				t.Fatalf("GetOperation %s: %v", o.id, err)
			}
			switch resp.GetOperation().GetState() {
			case replicadv1.OperationState_OPERATION_STATE_SUCCEEDED:
				done[o.id] = resp.GetOperation()
			case replicadv1.OperationState_OPERATION_STATE_FAILED, replicadv1.OperationState_OPERATION_STATE_CANCELLED:
				t.Fatalf("operation ended %s: %s", resp.GetOperation().GetState(), protojson.Format(resp.GetOperation()))
			}
		}
		if len(done) < len(ops) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d operations still unfinished after %s", len(ops)-len(done), len(ops), timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return done
}

// verifyFinalState checks the stand-in against a serial run of the
// operations in acceptance order (the operations table's seq).
func verifyFinalState(t *testing.T, dbURL string, sm *watchedStandin, ops []submitted) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, dbURL)
	seq := map[string]int64{}
	rows, err := conn.Query(ctx, "SELECT id::text, seq FROM operations")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var s int64
		if err := rows.Scan(&id, &s); err != nil {
			t.Fatal(err)
		}
		seq[id] = s
	}
	rows.Close()
	if len(seq) != len(ops) {
		t.Errorf("the operations table holds %d operations, %d were accepted", len(seq), len(ops))
	}
	sorted := append([]submitted(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return seq[sorted[i].id] < seq[sorted[j].id] })
	want := map[string]map[string]bool{}
	for _, o := range sorted {
		if want[o.secret] == nil {
			want[o.secret] = map[string]bool{}
		}
		for _, r := range o.regions {
			want[o.secret][r] = o.replicate
		}
	}
	for secret, regions := range want {
		got := sm.replicas(t, secret)
		for _, r := range regionPool {
			if got[r] != regions[r] {
				t.Errorf("secret %s: replica in %s = %v, a serial run in acceptance order says %v", secret, r, got[r], regions[r])
			}
		}
	}
	if o := sm.Overlaps(); len(o) > 0 {
		t.Errorf("mutating calls overlapped on secrets %v", o)
	}
}
