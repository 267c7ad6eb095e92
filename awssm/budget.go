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

// jitterHeadroom keeps the limiter slightly under the budget: requests are
// spaced by the limiter but arrive with network jitter, and a budget must
// hold where it is measured, at the receiving end.
const jitterHeadroom = 0.98

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
}

func newBudgets(write, read float64) *budgets {
	return &budgets{write: write, read: read, limiters: map[budgetKey]*rate.Limiter{}}
}

func (b *budgets) limiter(account, region string, bk bucket) *rate.Limiter {
	k := budgetKey{account, region, bk}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.limiters[k]; ok {
		return l
	}
	r := b.write
	if bk == bucketRead {
		r = b.read
	}
	l := rate.NewLimiter(rate.Limit(r*jitterHeadroom), 1)
	if r < 0 {
		l = rate.NewLimiter(rate.Inf, 1) // negative budget: unlimited
	}
	b.limiters[k] = l
	return l
}
