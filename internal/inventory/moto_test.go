package inventory_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/inventory"
	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/store"
)

// TestScanAgainstMoto: what moto supports of ListSecrets (pages, tags,
// secrets scheduled for deletion) fills the inventory the same way, and a
// deleted secret is marked gone. moto lists no PrimaryRegion for a
// replicated primary, so replication status is checked on the stand-in.
func TestScanAgainstMoto(t *testing.T) {
	t.Parallel()
	srv := moto.Start(t)
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("AKIDMOTO", "not-a-secret", "")
	sdk := secretsmanager.New(secretsmanager.Options{Region: "ca-central-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds})
	for i := range 7 {
		_, err := sdk.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(fmt.Sprintf("moto/%d", i)), SecretString: aws.String("v"),
			Tags: []types.Tag{{Key: aws.String("n"), Value: aws.String(fmt.Sprint(i))}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sdk.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("moto/6"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	c, err := awssm.New(ctx, awssm.Config{Endpoint: srv.URL, Credentials: creds, ScanRate: -1, ReadRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{aws: c, db: newFixtureDB(t), store: newStore(t)}
	target := []store.ScanTarget{{Region: "ca-central-1"}}
	scan := func() {
		t.Helper()
		s, err := inventory.New(f.db, f.aws, f.store, inventory.Config{Targets: target, Owner: "m", PageSize: 3, Interval: time.Nanosecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ScanOnce(ctx); !ok || err != nil {
			t.Fatalf("scan: %v %v", ok, err)
		}
	}
	scan()
	rows := f.all(t, domain.InventoryFilter{})
	if len(rows) != 7 {
		t.Fatalf("%d rows, want 7 (one scheduled for deletion)", len(rows))
	}
	for _, r := range rows {
		if r.Tags["n"] == "" || r.Account == "" || r.Region != "ca-central-1" || r.Deleted != (r.Name == "moto/6") {
			t.Errorf("row %+v", r)
		}
	}
	if _, err := sdk.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("moto/0"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	scan()
	gone := f.all(t, domain.InventoryFilter{IncludeGone: true, NamePrefix: "moto/0"})
	if len(gone) != 1 || !gone[0].Gone {
		t.Errorf("a force-deleted secret after a rescan: %+v", gone)
	}
	if n := len(f.all(t, domain.InventoryFilter{})); n != 6 {
		t.Errorf("%d rows present, want 6", n)
	}
}
