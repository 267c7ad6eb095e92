package awssm_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/standin"
)

type seen struct {
	mu   sync.Mutex
	list []awssm.Attempt
}

func (s *seen) ObserveAttempt(_ context.Context, a awssm.Attempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, a)
}

// TestListSecretsHasItsOwnBudget: a scan's pages are paced by the
// ListSecrets budget, measured where AWS measures it (the stand-in), and
// DescribeSecret calls made meanwhile never wait behind them.
func TestListSecretsHasItsOwnBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sm, err := standin.New(standin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sm)
	t.Cleanup(hs.Close)
	var specs []standin.SeedSecret
	for i := range 40 {
		specs = append(specs, standin.SeedSecret{Region: "us-east-1", Name: fmt.Sprintf("budget/%02d", i)})
	}
	if _, err := sm.SeedSecrets(ctx, specs); err != nil {
		t.Fatal(err)
	}
	obs := &seen{}
	const scanRate = 4.0
	c, err := awssm.New(ctx, awssm.Config{
		Endpoint:    hs.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "not-a-secret", ""),
		ScanRate:    scanRate, ReadRate: 1000, Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, token, pages := 0, "", 0
	for {
		page, err := c.ListSecrets(ctx, "", "us-east-1", token, 5)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Secrets)
		pages++
		// A describe between two pages: the next page waits for its
		// budget, the describe must not.
		if _, err := c.Describe(ctx, "us-east-1", page.Secrets[0].ARN); err != nil {
			t.Fatal(err)
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	took := time.Since(start)
	if n != 40 || pages != 8 {
		t.Fatalf("listed %d secrets in %d pages, want 40 in 8", n, pages)
	}
	// 8 pages at 4/s (less the jitter headroom): at least 7 intervals.
	if min := 7 * time.Duration(float64(time.Second)/scanRate); took < min {
		t.Errorf("8 pages took %v, under the %v the budget allows", took, min)
	}
	reads := sm.Stats().Region("us-east-1").APIs
	if reads["ListSecrets"].Requests != 8 || reads["DescribeSecret"].Requests != 8 {
		t.Errorf("stand-in saw %+v", reads)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, a := range obs.list {
		if a.API == "DescribeSecret" && a.Waited > 50*time.Millisecond {
			t.Errorf("a DescribeSecret waited %v for its budget during the scan: the buckets are not separate", a.Waited)
		}
	}
}

// TestAmbientAccountHasOneBudget: with the ambient credentials, a secret
// named by ARN and one named by name are calls of the same account and
// spend the same budget. Keyed by the ARN's account, they once had one
// budget each, and the scanner (ListSecrets by account "", DescribeSecret
// by ARN) reached 1.2× its read budget at the stand-in.
func TestAmbientAccountHasOneBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sm, err := standin.New(standin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sm)
	t.Cleanup(hs.Close)
	arn, err := sm.Seed(ctx, "us-east-1", "budget/ambient", "v")
	if err != nil {
		t.Fatal(err)
	}
	const rate = 4.0
	c, err := awssm.New(ctx, awssm.Config{
		Endpoint:    hs.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "not-a-secret", ""),
		ScanRate:    rate,
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := awssm.WithScan(ctx)
	start := time.Now()
	const calls = 6
	for i := range calls {
		id := arn
		if i%2 == 1 {
			id = "budget/ambient"
		}
		if _, err := c.Describe(scan, "us-east-1", id); err != nil {
			t.Fatal(err)
		}
	}
	// One budget of 4/s: the first call goes at once, each later one a
	// quarter of a second after the one before. Two budgets would take
	// half as long. (Load only makes it slower.)
	if took, least := time.Since(start), time.Duration(float64(calls-1)/rate*float64(time.Second)); took < least {
		t.Errorf("%d calls in the ambient account, by ARN and by name, took %s at %g/s: under %s, so not one budget", calls, took, rate, least)
	}
}
