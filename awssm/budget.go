package awssm

import (
	"sync"

	"golang.org/x/time/rate"
)

// bucket is an AWS request-rate bucket.
type bucket int

const (
	bucketWrite bucket = iota
	bucketRead
)

// writeAPIs share AWS's per-Region, per-account bucket of 50 requests/s.
var writeAPIs = map[string]bool{
	"ReplicateSecretToRegions":     true,
	"RemoveRegionsFromReplication": true,
	"StopReplicationToReplica":     true,
	"PutSecretValue":               true,
	"UpdateSecret":                 true,
}

func bucketOf(api string) bucket {
	if writeAPIs[api] {
		return bucketWrite
	}
	return bucketRead
}

// JitterHeadroom keeps the limiter slightly under the budget (3%: about
// 30 ms of slack over any second's worth of requests): requests are
// spaced by the limiter but arrive with network jitter, and a budget must
// hold where it is measured, at the receiving end.
const JitterHeadroom = 0.97

type budgetKey struct {
	account, region string
	bucket          bucket
}

// budgets holds one token bucket per (account, Region, bucket). A burst of
// one spaces requests evenly: 10,000 queued operations drain at the budget
// rather than arriving together and being throttled.
type budgets struct {
	write, read float64
	mu          sync.Mutex
	limiters    map[budgetKey]*rate.Limiter
	// share is how many processes split the budgets (at least 1).
	share int
}

func newBudgets(write, read float64) *budgets {
	return &budgets{write: write, read: read, limiters: map[budgetKey]*rate.Limiter{}, share: 1}
}

// limit is this process's rate for a bucket: its share of the budget.
func (b *budgets) limit(bk bucket) rate.Limit {
	r := b.write
	if bk == bucketRead {
		r = b.read
	}
	if r < 0 {
		return rate.Inf // negative budget: unlimited
	}
	return rate.Limit(r * JitterHeadroom / float64(b.share))
}

// setShare splits the budgets between n processes from now on.
func (b *budgets) setShare(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 1 {
		n = 1
	}
	if n == b.share {
		return
	}
	b.share = n
	for k, l := range b.limiters {
		l.SetLimit(b.limit(k.bucket))
	}
}

func (b *budgets) limiter(account, region string, bk bucket) *rate.Limiter {
	k := budgetKey{account, region, bk}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.limiters[k]; ok {
		return l
	}
	l := rate.NewLimiter(b.limit(bk), 1)
	b.limiters[k] = l
	return l
}
