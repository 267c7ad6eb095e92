package engine

import (
	"container/list"
	"sync"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
)

// OperationCacheSizeDefault is how many finished operations the engine
// keeps decoded for reads (GetOperation, and Status's recent operations).
// An entry is about a kilobyte or two: a few MiB bound it.
const OperationCacheSizeDefault = 4096

// opCache keeps finished operations (SUCCEEDED, FAILED, CANCELLED) as read
// from the database, so that reading one again costs neither a query nor
// unsealing and decoding its row. It is safe across processes without any
// invalidation because a terminal operation's row never changes: every
// write to an operation (store.Update, SetJob, SetApproval) is made under
// its row lock by code that first checks the stored state is not terminal
// (finish, save, begin, adopt, Cancel, Repair, the approval paths), and
// nothing deletes operations. Operations that are not terminal are never
// kept: they are always read from PostgreSQL. Failover parents are not
// kept either (their answer includes their children's live progress), nor
// operations with an AWS call of unknown outcome (cacheable).
//
// Full operations (Get) and summaries (Status's recent operations, see
// store.Summaries) are kept apart: a summary lacks fields a full read
// returns. The least recently used entry goes first when the cache is full.
// Entries are shared by every caller: they must be read, never modified.
type opCache struct {
	max int // <= 0: nothing is kept

	mu  sync.Mutex
	lru *list.List // of *opEntry, most recently used first
	m   map[opKey]*list.Element
}

type opKey struct {
	id      uuid.UUID
	summary bool
}

type opEntry struct {
	key opKey
	op  domain.Operation
}

func newOpCache(max int) *opCache {
	return &opCache{max: max, lru: list.New(), m: map[opKey]*list.Element{}}
}

func (c *opCache) get(k opKey) (domain.Operation, bool) {
	if c.max <= 0 {
		return domain.Operation{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return domain.Operation{}, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*opEntry).op, true
}

// cacheable says whether op may be kept: see opCache.
func cacheable(op domain.Operation) bool {
	// An open intent of a terminal operation (its execution was cut off
	// and never resumed, or a second execution of its job finished it
	// while the first was still sending) may still be completed by the
	// execution that sent it: such an operation is read afresh each time.
	return op.State.Terminal() && op.Params.DR == nil && len(op.OpenCalls) == 0
}

// put keeps op if it is cacheable.
func (c *opCache) put(k opKey, op domain.Operation) {
	if c.max <= 0 || !cacheable(op) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(&opEntry{key: k, op: op})
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.m, last.Value.(*opEntry).key)
	}
}

// len is how many entries are kept (for tests).
func (c *opCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
