package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

func invSecret(account, region, name string, at time.Time) domain.InventorySecret {
	return domain.InventorySecret{
		Account: account, Region: region, Name: name,
		ARN:      "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + name + "-AbCdEf",
		Replicas: []domain.Replica{{Region: "eu-west-1", Status: domain.StatusInSync}},
		Tags:     map[string]string{"team": "a"},
		ReadAt:   at, LastSeen: at,
	}
}

func TestInventoryNewestReadingWins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acct := "1" + uuid.NewString()[:11]
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	newer := invSecret(acct, "us-east-1", "app/db", t0.Add(time.Second))
	newer.Replicas[0].Status = domain.StatusFailed
	if _, err := b.st.UpsertInventory(b.ctx, b.tx, newer); err != nil {
		t.Fatal(err)
	}
	// A reading sent earlier (a slow ListSecrets page) arrives later.
	changed, err := b.st.UpsertInventory(b.ctx, b.tx, invSecret(acct, "us-east-1", "app/db", t0))
	if err != nil {
		t.Fatal(err)
	}
	if changed {
		t.Fatal("older reading replaced a newer one")
	}
	got, err := b.st.GetInventory(b.ctx, b.tx, newer.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.Replicas[0].Status != domain.StatusFailed || !got.ReadAt.Equal(newer.ReadAt) {
		t.Fatalf("got %+v, want the newer reading", got)
	}
	if _, err := b.st.GetInventory(b.ctx, b.tx, newer.ARN+"x"); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("missing ARN: err %v", err)
	}
}

func TestInventoryMarkGoneAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acct := "2" + uuid.NewString()[:11]
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	a := invSecret(acct, "us-east-1", "app/a", t0)
	c := invSecret(acct, "us-east-1", "app/c", t0)
	c.Tags = map[string]string{"team": "b"}
	c.Replicas = []domain.Replica{{Region: "eu-west-1", Status: domain.StatusFailed}}
	other := invSecret(acct, "us-west-2", "web/x", t0)
	for _, s := range []domain.InventorySecret{a, c, other} {
		if _, err := b.st.UpsertInventory(b.ctx, b.tx, s); err != nil {
			t.Fatal(err)
		}
	}
	// A second scan of us-east-1 starting later sees only app/c.
	scan := t0.Add(time.Minute)
	c.ReadAt, c.LastSeen = scan.Add(time.Second), scan.Add(time.Second)
	if _, err := b.st.UpsertInventory(b.ctx, b.tx, c); err != nil {
		t.Fatal(err)
	}
	n, err := b.st.MarkInventoryGone(b.ctx, b.tx, acct, "us-east-1", scan)
	if err != nil || n != 1 {
		t.Fatalf("mark gone: n=%d err=%v, want 1", n, err)
	}
	names := func(f domain.InventoryFilter) []string {
		t.Helper()
		f.Account = acct
		var out []string
		var cur *store.InventoryCursor
		for {
			page, next, err := b.st.ListInventory(b.ctx, b.tx, f, cur, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page {
				out = append(out, s.Name)
			}
			if next == nil {
				return out
			}
			cur = next
		}
	}
	for _, tc := range []struct {
		name string
		f    domain.InventoryFilter
		want []string
	}{
		{"all live", domain.InventoryFilter{}, []string{"app/c", "web/x"}},
		{"include gone", domain.InventoryFilter{IncludeGone: true}, []string{"app/a", "app/c", "web/x"}},
		{"region", domain.InventoryFilter{PrimaryRegion: "us-west-2"}, []string{"web/x"}},
		{"prefix", domain.InventoryFilter{NamePrefix: "app/", IncludeGone: true}, []string{"app/a", "app/c"}},
		{"replica status", domain.InventoryFilter{ReplicaRegion: "eu-west-1", ReplicaStatus: domain.StatusFailed}, []string{"app/c"}},
		{"replica region elsewhere", domain.InventoryFilter{ReplicaRegion: "ap-south-1"}, nil},
		{"tag value", domain.InventoryFilter{TagKey: "team", TagValue: "a"}, []string{"web/x"}},
		{"tag key", domain.InventoryFilter{TagKey: "team"}, []string{"app/c", "web/x"}},
	} {
		got := names(tc.f)
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
	got, err := b.st.GetInventory(b.ctx, b.tx, a.ARN)
	if err != nil || !got.Gone || got.GoneSince.IsZero() {
		t.Fatalf("gone row: %+v err %v", got, err)
	}
	// A newer reading brings it back.
	a.ReadAt, a.LastSeen = scan.Add(2*time.Second), scan.Add(2*time.Second)
	if _, err := b.st.UpsertInventory(b.ctx, b.tx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.st.GetInventory(b.ctx, b.tx, a.ARN); got.Gone || !got.FirstSeen.Equal(t0) {
		t.Fatalf("back row: %+v", got)
	}
}
