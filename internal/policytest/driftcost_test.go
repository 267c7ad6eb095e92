package policytest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// TestStoredDriftCost measures what stored drift costs over a large
// inventory (DRIFT_COST_TOTAL rows, default 10,000): a policy write (which
// leaves the recomputation to the background), the first drift-filtered
// ListSecrets after it (which then computes every row itself), one with
// nothing stale, and one with every row stale (as after a scan that read
// every secret anew). It logs the times and checks the answers, not the times: they
// depend on the machine.
func TestStoredDriftCost(t *testing.T) {
	testtier.Slow(t)
	total := 10000
	if v := os.Getenv("DRIFT_COST_TOTAL"); v != "" {
		var err error
		if total, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	// No background computation: the requests measured do all of it.
	f := start(t, func(c *daemon.Config) { c.Engine.DriftInterval = -1 })
	f.kmsKey(t, "", "eu-west-1", "alias/cost-eu")
	ctx := context.Background()
	rows := func(at time.Time) {
		t.Helper()
		err := pgx.BeginFunc(ctx, f.env.DB, func(tx pgx.Tx) error {
			for i := range total {
				sec := domain.InventorySecret{Account: standin.AccountIDDefault, Region: "us-east-1",
					ARN:  fmt.Sprintf("arn:aws:secretsmanager:us-east-1:%s:secret:cost/%05d-AbCdEf", standin.AccountIDDefault, i),
					Name: fmt.Sprintf("cost/%05d", i), ReadAt: at, LastSeen: at}
				if i%2 == 0 {
					sec.Replicas = []domain.Replica{{Region: "eu-west-1", KMSKeyID: "alias/cost-eu", Status: domain.StatusInSync}}
				}
				if _, err := f.inv.UpsertInventory(ctx, tx, sec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rows(time.Now())
	inv := replicadv1.NewInventoryServiceClient(f.env.Conn)
	count := func(kind string) (int, time.Duration) {
		t.Helper()
		began := time.Now()
		n, token := 0, ""
		for {
			resp, err := inv.ListSecrets(ctx, &replicadv1.ListSecretsRequest{DriftKind: kind, PageSize: 1000, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			n += len(resp.GetSecrets())
			if token = resp.GetNextPageToken(); token == "" {
				return n, time.Since(began)
			}
		}
	}
	began := time.Now()
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: &replicadv1.ReplicationPolicy{
		Name: "cost", Selector: &replicadv1.PolicySelector{NameGlobs: []string{"cost/**"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1", KmsKeyId: "alias/cost-eu"}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_REPORT,
	}}); err != nil {
		t.Fatal(err)
	}
	create := time.Since(began)
	n, first := count("MISSING_REGION")
	if n != total/2 {
		t.Fatalf("%d secrets missing a Region, want %d", n, total/2)
	}
	n, fresh := count("MISSING_REGION")
	if n != total/2 {
		t.Fatalf("again: %d secrets missing a Region, want %d", n, total/2)
	}
	rows(time.Now()) // every row read anew: all stale
	n, stale := count("MISSING_REGION")
	if n != total/2 {
		t.Fatalf("after a new reading: %d secrets missing a Region, want %d", n, total/2)
	}
	t.Logf("%d rows: create policy %v; first drift-filtered list after it (every row computed) %v; nothing stale %v; every row stale %v",
		total, create.Round(time.Millisecond), first.Round(time.Millisecond), fresh.Round(time.Millisecond), stale.Round(time.Millisecond))
}
