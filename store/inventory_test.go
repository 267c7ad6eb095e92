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

// Stored drift belongs to one reading: a computation from an older reading
// never overwrites the drift of a newer one, and a row is stale until its
// current reading's drift under the current policies is stored.
func TestInventoryDriftFollowsTheReading(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acct := "3" + uuid.NewString()[:11]
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	sec := invSecret(acct, "us-east-1", "app/drift", t0)
	other := invSecret(acct, "us-east-1", "app/other", t0)
	for _, s := range []domain.InventorySecret{sec, other} {
		if _, err := b.st.UpsertInventory(b.ctx, b.tx, s); err != nil {
			t.Fatal(err)
		}
	}
	stale := func(digest string) map[string]bool {
		t.Helper()
		rows, _, err := b.st.StaleDrift(b.ctx, b.tx, digest, nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, r := range rows {
			out[r.ARN] = true
		}
		return out
	}
	if s := stale("p1"); !s[sec.ARN] || !s[other.ARN] {
		t.Fatalf("never computed rows are not stale: %v", s)
	}
	d := domain.SecretDrift{Policy: "pol", Findings: []domain.DriftFinding{
		{Kind: "MISSING_REGION", Region: "ap-south-1"}, {Kind: "MISSING_REGION", Region: "us-west-2"},
		{Kind: "FAILED_REPLICA", Region: "eu-west-1", Message: "key disabled"}}, ComputedAt: t0}
	n, err := b.st.SetInventoryDrift(b.ctx, b.tx, "p1", t0, []store.DriftUpdate{
		{ARN: sec.ARN, ReadAt: sec.ReadAt, Drift: d}, {ARN: other.ARN, ReadAt: other.ReadAt, Drift: domain.SecretDrift{Policy: "pol"}}})
	if err != nil || n != 2 {
		t.Fatalf("SetInventoryDrift: %d %v", n, err)
	}
	if s := stale("p1"); s[sec.ARN] || s[other.ARN] {
		t.Fatalf("computed rows still stale: %v", s)
	}
	if s := stale("p2"); !s[sec.ARN] {
		t.Fatal("a policy change did not make the row stale")
	}
	list := func(f domain.InventoryFilter) []string {
		t.Helper()
		f.Account = acct
		rows, _, err := b.st.ListInventory(b.ctx, b.tx, f, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Name)
		}
		return out
	}
	if got := list(domain.InventoryFilter{DriftKind: "FAILED_REPLICA", Drift: domain.DriftOnly}); len(got) != 1 || got[0] != "app/drift" {
		t.Errorf("FAILED_REPLICA: %v", got)
	}
	if got := list(domain.InventoryFilter{Drift: domain.CompliantOnly}); len(got) != 1 || got[0] != "app/other" {
		t.Errorf("compliant: %v", got)
	}
	got, err := b.st.GetInventory(b.ctx, b.tx, sec.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.Drift.Policy != "pol" || len(got.Drift.Findings) != 3 || got.Drift.Findings[2].Message != "key disabled" ||
		len(got.Drift.Kinds()) != 2 || !got.Drift.ComputedAt.Equal(t0) {
		t.Errorf("stored drift %+v", got.Drift)
	}
	// A newer reading arrives; the drift computed from the older one is
	// refused, and the row is stale until its own is stored.
	newer := sec
	newer.ReadAt = t0.Add(time.Second)
	if _, err := b.st.UpsertInventory(b.ctx, b.tx, newer); err != nil {
		t.Fatal(err)
	}
	if n, err := b.st.SetInventoryDrift(b.ctx, b.tx, "p1", t0, []store.DriftUpdate{{ARN: sec.ARN, ReadAt: sec.ReadAt, Drift: d}}); err != nil || n != 0 {
		t.Fatalf("drift of an older reading stored: %d %v", n, err)
	}
	if s := stale("p1"); !s[sec.ARN] {
		t.Fatal("a new reading did not make the row stale")
	}
	// Cleared: no policy selects it.
	if n, err := b.st.SetInventoryDrift(b.ctx, b.tx, "p1", t0, []store.DriftUpdate{{ARN: sec.ARN, ReadAt: newer.ReadAt}}); err != nil || n != 1 {
		t.Fatalf("clear: %d %v", n, err)
	}
	if got := list(domain.InventoryFilter{Drift: domain.DriftOnly}); len(got) != 0 {
		t.Errorf("drifted after clearing: %v", got)
	}
	// Gone with drift: stale, to be cleared.
	if _, err := b.st.MarkInventoryGone(b.ctx, b.tx, acct, "us-east-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s := stale("p1"); !s[other.ARN] || s[sec.ARN] {
		t.Errorf("gone rows: stale %v, want only the one with a policy", s)
	}
}
