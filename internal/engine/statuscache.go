package engine

import (
	"context"
	"sync"
	"time"

	"github.com/replicad/replicad/internal/domain"
)

// StatusCacheTTLDefault is how long Status reuses a DescribeSecret answer.
// Portals and dashboards call Status in loops; AWS's own replication status
// moves on a scale of seconds, so a 2 s old answer says the same.
const StatusCacheTTLDefault = 2 * time.Second

// statusCacheMax bounds the answers kept: beyond it, expired ones are
// swept, and if none has expired a new answer is served but not kept.
const statusCacheMax = 10_000

// statusCache keeps Status's DescribeSecret answers per secret for a short
// time, and makes concurrent callers for the same secret share one call
// (the first caller's call; the others wait for it). An answer is never
// reused once it may be out of date because of replicad itself:
//
//   - in this process, a mutating AWS call on the secret or the end of one
//     of its operations drops it (invalidate), and a call already in flight
//     when that happens is served to its waiters but not kept;
//   - from any process sharing the database, Status passes the newest
//     update time of the secret's recent operations (notBefore), and an
//     answer fetched before it is not reused.
//
// Errors are never kept. What changes in AWS by other means than replicad
// shows after at most the TTL.
type statusCache struct {
	ttl time.Duration // <= 0: no cache, every Status calls AWS

	mu sync.Mutex
	// bySecret: secret key → (id as given, Region) → answer; keyed by the
	// secret first so that invalidating a secret finds its answers at once.
	bySecret map[string]map[statusKey]*statusEntry
	size     int
}

type statusKey struct{ raw, region string }

type statusEntry struct {
	done    chan struct{} // closed once sec and err are set
	sec     domain.Secret
	err     error
	started time.Time // when the DescribeSecret call began
}

func newStatusCache(ttl time.Duration) *statusCache {
	return &statusCache{ttl: ttl, bySecret: map[string]map[statusKey]*statusEntry{}}
}

// get returns the answer for (secretKey, raw, region): a kept one younger
// than the TTL and fetched no earlier than notBefore, the one of a call in
// flight that began no earlier than notBefore, or the answer of a new call
// to fetch.
func (c *statusCache) get(ctx context.Context, secretKey, raw, region string, notBefore time.Time,
	fetch func(context.Context) (domain.Secret, error)) (domain.Secret, error) {
	if c.ttl <= 0 {
		return fetch(ctx)
	}
	k := statusKey{raw: raw, region: region}
	now := time.Now()
	c.mu.Lock()
	e := c.bySecret[secretKey][k]
	usable := e != nil && !e.started.Before(notBefore)
	if usable {
		select {
		case <-e.done:
			usable = e.err == nil && now.Sub(e.started) < c.ttl
		default: // in flight: join it
		}
	}
	if !usable {
		e = &statusEntry{done: make(chan struct{}), started: now}
		c.put(secretKey, k, e)
		c.mu.Unlock()
		// The call is shared: one caller giving up must not fail the
		// others waiting for it (the AWS call has its own timeout).
		sec, err := fetch(context.WithoutCancel(ctx))
		c.mu.Lock()
		e.sec, e.err = sec, err
		close(e.done)
		if err != nil && c.bySecret[secretKey][k] == e {
			c.remove(secretKey, k)
		}
		c.mu.Unlock()
		return sec, err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.sec, e.err
	case <-ctx.Done():
		return domain.Secret{}, ctx.Err()
	}
}

// put keeps e, replacing what was there. Call with mu held.
func (c *statusCache) put(secretKey string, k statusKey, e *statusEntry) {
	m := c.bySecret[secretKey]
	if m == nil {
		m = map[statusKey]*statusEntry{}
		c.bySecret[secretKey] = m
	}
	if _, ok := m[k]; !ok {
		if c.size >= statusCacheMax {
			c.sweep(e.started)
		}
		if c.size >= statusCacheMax {
			// Full of fresh answers: serve this one without keeping it.
			// Its waiters are only those that find it, so none.
			return
		}
		c.size++
	}
	m[k] = e
}

// sweep drops the answers that expired by now. Call with mu held.
func (c *statusCache) sweep(now time.Time) {
	for sk, m := range c.bySecret {
		for k, e := range m {
			select {
			case <-e.done:
				if now.Sub(e.started) >= c.ttl {
					c.remove(sk, k)
				}
			default:
			}
		}
	}
}

// remove drops one answer. Call with mu held.
func (c *statusCache) remove(secretKey string, k statusKey) {
	m := c.bySecret[secretKey]
	if _, ok := m[k]; !ok {
		return
	}
	delete(m, k)
	c.size--
	if len(m) == 0 {
		delete(c.bySecret, secretKey)
	}
}

// invalidate drops every answer about a secret, in every Region and under
// every id naming it: replicad just changed it, or is changing it. A call in
// flight still answers the callers already waiting for it, but callers
// arriving from now on make a new one.
func (c *statusCache) invalidate(secretKey string) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.size -= len(c.bySecret[secretKey])
	delete(c.bySecret, secretKey)
}
