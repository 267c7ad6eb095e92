package inventory_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/inventory"
	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/internal/seal"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	acctA = standin.AccountIDDefault
	acctB = "210987654321"
)

var regions = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}

type fixture struct {
	sm    *standin.Server
	url   string
	aws   *awssm.Client
	db    *pgxpool.Pool
	store *store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sm, err := standin.New(standin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sm)
	t.Cleanup(hs.Close)
	c, err := awssm.New(context.Background(), awssm.Config{
		Endpoint:    hs.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDAMBIENT", "not-a-secret", ""),
		Accounts: []awssm.Account{
			{RoleARN: "arn:aws:iam::" + acctA + ":role/replicad", Regions: regions},
			{RoleARN: "arn:aws:iam::" + acctB + ":role/replicad", Regions: regions},
		},
		ScanRate: -1, ReadRate: -1, MaxBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sm: sm, url: hs.URL, aws: c, db: newFixtureDB(t), store: newStore(t)}
}

func newFixtureDB(t *testing.T) *pgxpool.Pool { return pgtest.NewPool(t) }

func newStore(t *testing.T) *store.Store {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return store.New(box)
}

func targets() []store.ScanTarget {
	var out []store.ScanTarget
	for _, a := range []string{acctA, acctB} {
		for _, r := range regions {
			out = append(out, store.ScanTarget{Account: a, Region: r})
		}
	}
	return out
}

func (f *fixture) scanner(t *testing.T, owner string, mutate ...func(*inventory.Config)) *inventory.Scanner {
	t.Helper()
	cfg := inventory.Config{Targets: targets(), Owner: owner, PageSize: 7, Interval: time.Hour, Lease: 30 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := inventory.New(f.db, f.aws, f.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seedFleet gives each account n secrets in each Region; every fifth is
// replicated to the next Region (with a key), every tenth also has a
// Failed replica in the one after.
func (f *fixture) seedFleet(t *testing.T, n int) map[string]standin.SeedSecret {
	t.Helper()
	var specs []standin.SeedSecret
	for _, a := range []string{acctA, acctB} {
		for ri, r := range regions {
			for i := range n {
				sp := standin.SeedSecret{Account: a, Region: r, Name: fmt.Sprintf("fleet/%s/%03d", r, i),
					Tags: map[string]string{"team": []string{"pay", "search"}[i%2], "idx": fmt.Sprint(i)}}
				if i%5 == 0 {
					next := regions[(ri+1)%3]
					sp.Replicas = append(sp.Replicas, standin.SeedReplica{Region: next, KMSKeyID: "alias/fleet-" + next})
				}
				if i%10 == 0 {
					sp.Replicas = append(sp.Replicas, standin.SeedReplica{Region: regions[(ri+2)%3], Failed: "simulated failure"})
				}
				specs = append(specs, sp)
			}
		}
	}
	arns, err := f.sm.SeedSecrets(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]standin.SeedSecret{}
	for i, arn := range arns {
		out[arn] = specs[i]
	}
	return out
}

func (f *fixture) all(t *testing.T, filter domain.InventoryFilter) []domain.InventorySecret {
	t.Helper()
	var out []domain.InventorySecret
	var cur *store.InventoryCursor
	for {
		page, next, err := f.store.ListInventory(context.Background(), f.db, filter, cur, 50)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == nil {
			return out
		}
		cur = next
	}
}

func scanAll(t *testing.T, s *inventory.Scanner) int {
	t.Helper()
	n := 0
	for {
		ok, err := s.ScanOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return n
		}
		n++
	}
}

func TestScanTwoAccountsThreeRegions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seeded := f.seedFleet(t, 20)
	if n := scanAll(t, f.scanner(t, "p1")); n != 6 {
		t.Fatalf("%d scans, want one per (account, Region): 6", n)
	}
	rows := f.all(t, domain.InventoryFilter{})
	if len(rows) != len(seeded) {
		t.Fatalf("%d rows, want %d (one per primary; replicas are not rows of their own)", len(rows), len(seeded))
	}
	for _, row := range rows {
		sp, ok := seeded[row.ARN]
		if !ok {
			t.Fatalf("row for an unseeded ARN")
		}
		if row.Account != domain.AccountOfARN(row.ARN) || row.Region != sp.Region || row.Name != sp.Name || row.Tags["idx"] != sp.Tags["idx"] || row.Gone || row.LastSeen.IsZero() {
			t.Errorf("%s: row %+v", sp.Name, row)
		}
		if len(row.Replicas) != len(sp.Replicas) {
			t.Errorf("%s: replicas %+v, want %+v", sp.Name, row.Replicas, sp.Replicas)
			continue
		}
		for _, want := range sp.Replicas {
			got, _ := row.Replica(want.Region)
			switch {
			case want.Failed != "" && (got.Status != domain.StatusFailed || got.StatusMessage != want.Failed):
				t.Errorf("%s in %s: %+v, want Failed with AWS's message", sp.Name, want.Region, got)
			case want.Failed == "" && (got.Status != domain.StatusInSync || got.KMSKeyID != want.KMSKeyID):
				t.Errorf("%s in %s: %+v, want InSync with key %s", sp.Name, want.Region, got, want.KMSKeyID)
			}
		}
	}
	for _, a := range []string{acctA, acctB} {
		if n := len(f.all(t, domain.InventoryFilter{Account: a})); n != 60 {
			t.Errorf("account has %d rows, want 60", n)
		}
	}
	// Every page listed once, every replicated primary described once.
	st := f.sm.Stats()
	for _, r := range regions {
		apis := st.Region(r).APIs
		// 20 primaries + 4 replicas listed per account (1 in 5 of the
		// previous Region's): 24 entries, pages of 7: 4 pages, 2 accounts.
		if apis["ListSecrets"].Requests != 8 || apis["DescribeSecret"].Requests != 8 {
			t.Errorf("%s: ListSecrets %d, DescribeSecret %d; want 8 and 8", r, apis["ListSecrets"].Requests, apis["DescribeSecret"].Requests)
		}
	}
	if st.AssumeRole != 2 {
		t.Errorf("%d AssumeRole calls, want 2: one per account, then cached", st.AssumeRole)
	}
	states, err := f.store.ScanStates(context.Background(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.Completed.IsZero() || s.Listed != 20 || s.LeasedBy != "" || s.LastError != "" {
			t.Errorf("scan state %+v", s)
		}
	}
	// Nothing is due until the interval passes.
	if ok, err := f.scanner(t, "p1").ScanOnce(context.Background()); ok || err != nil {
		t.Errorf("a second pass scanned again (%v, %v) before the interval", ok, err)
	}
}

func TestScanMarksGoneAndRedescribesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seeded := f.seedFleet(t, 10)
	scanAll(t, f.scanner(t, "p1"))
	var victim string
	for arn, sp := range seeded {
		if sp.Account == acctB && sp.Region == "eu-west-1" && len(sp.Replicas) == 0 {
			victim = arn
			break
		}
	}
	if err := f.sm.ForceDelete(acctB, "eu-west-1", seeded[victim].Name); err != nil {
		t.Fatal(err)
	}
	before := f.sm.Stats()
	// Every target is due again at once: six scans rescan each one.
	rescan := f.scanner(t, "p1", func(c *inventory.Config) { c.Interval = time.Nanosecond })
	for range 6 {
		if ok, err := rescan.ScanOnce(context.Background()); !ok || err != nil {
			t.Fatalf("rescan: %v %v", ok, err)
		}
	}
	row, err := f.store.GetInventory(context.Background(), f.db, victim)
	if err != nil {
		t.Fatal(err)
	}
	if !row.Gone || row.GoneSince.IsZero() {
		t.Errorf("a deleted secret after a complete scan: gone %v since %v", row.Gone, row.GoneSince)
	}
	if n := len(f.all(t, domain.InventoryFilter{})); n != len(seeded)-1 {
		t.Errorf("%d rows listed, want %d (gone left out)", n, len(seeded)-1)
	}
	if n := len(f.all(t, domain.InventoryFilter{IncludeGone: true})); n != len(seeded) {
		t.Errorf("%d rows with gone ones, want %d: a gone secret is kept", n, len(seeded))
	}
	// The second scan described only the replicated secrets with a
	// replica not InSync (the Failed ones): nothing else changed.
	after := f.sm.Stats()
	described := int64(0)
	for _, r := range regions {
		described += after.Region(r).APIs["DescribeSecret"].Requests - before.Region(r).APIs["DescribeSecret"].Requests
	}
	if described != 6 {
		t.Errorf("the rescan made %d DescribeSecret calls, want 6 (one per Failed replica's secret)", described)
	}
}

// TestTwoScannersDivideTheWork: two processes' scanners on one database,
// racing for the same targets, scan each (account, Region) exactly once.
func TestTwoScannersDivideTheWork(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedFleet(t, 15)
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i := range 2 {
		s := f.scanner(t, fmt.Sprintf("p%d", i))
		wg.Go(func() { counts[i] = scanAll(t, s) })
	}
	wg.Wait()
	if counts[0]+counts[1] != 6 {
		t.Errorf("scans %v, want 6 in all", counts)
	}
	st := f.sm.Stats()
	for _, r := range regions {
		// 15 primaries + 3 replicas per account: 18 entries, 3 pages of 7.
		if n := st.Region(r).APIs["ListSecrets"].Requests; n != 6 {
			t.Errorf("%s: %d ListSecrets pages, want 6: a target was scanned twice", r, n)
		}
	}
}

// TestLeaseTakenOverAfterACrash: a process that claimed a target and died
// holds it only until its lease ends; then another scans it.
func TestLeaseTakenOverAfterACrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedFleet(t, 3)
	ctx := context.Background()
	one := []store.ScanTarget{{Account: acctA, Region: "us-east-1"}}
	if err := f.store.EnsureScanTargets(ctx, f.db, one); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.store.ClaimScan(ctx, f.db, "dead", one, 2*time.Second, time.Hour, time.Now()); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	s := f.scanner(t, "alive", func(c *inventory.Config) { c.Targets = one })
	if ok, err := s.ScanOnce(ctx); ok || err != nil {
		t.Fatalf("a live lease was taken over: %v %v", ok, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := s.ScanOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead process's lease was never taken over")
		}
		time.Sleep(100 * time.Millisecond) // polling for the lease's end, a condition
	}
	states, _ := f.store.ScanStates(ctx, f.db)
	if i := slices.IndexFunc(states, func(s store.ScanState) bool { return s.Region == "us-east-1" && s.Account == acctA }); i < 0 || states[i].Completed.IsZero() {
		t.Errorf("scan states after take-over: %+v", states)
	}
	// The dead process cannot complete over the new holder's result.
	gone, held, err := f.store.CompleteScan(ctx, f.db, "dead", store.ScanLease{ScanTarget: one[0], Started: time.Now(), AccountID: acctA}, acctA, 0)
	if err != nil || held || gone != 0 {
		t.Errorf("a stale holder completed: held %v gone %d err %v", held, gone, err)
	}
}
