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
