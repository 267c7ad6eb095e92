package standin

import (
	"sync"
	"time"
)

// Stats is what the stand-in has answered since it started or was last
// reset. Tests and load runs use it to check a client's behaviour from the
// server's side, for example that it never exceeded a budget.
type Stats struct {
	// Regions holds the counters of each Region that received a request.
	Regions map[string]RegionStats `json:"regions"`
	// Unauthenticated counts requests refused before a Region was known
	// (missing or malformed Authorization header).
	Unauthenticated int64 `json:"unauthenticated"`
	// AssumeRole counts the STS AssumeRole calls answered with credentials,
	// AssumeRoleRefused those refused for a wrong external id.
	AssumeRole        int64 `json:"assumeRole"`
	AssumeRoleRefused int64 `json:"assumeRoleRefused"`
}

// Region returns the counters of one Region (zero if it saw no request).
func (s Stats) Region(region string) RegionStats {
	return s.Regions[region]
}

// RegionStats are the counters of one Region.
type RegionStats struct {
	// APIs holds the counters per operation name ("DescribeSecret"...).
	APIs map[string]APIStats `json:"apis"`
	// Writes covers requests under the write budget, Reads those under the
	// read budget (see Faults).
	Writes WindowStats `json:"writes"`
	Reads  WindowStats `json:"reads"`
}

// Total sums the counters of every operation.
func (r RegionStats) Total() APIStats {
	var t APIStats
	for _, a := range r.APIs {
		t.Requests += a.Requests
		t.BudgetThrottles += a.BudgetThrottles
		t.RandomThrottles += a.RandomThrottles
		t.ServerErrors += a.ServerErrors
		t.ClientErrors += a.ClientErrors
	}
	return t
}

// APIStats are the counters of one operation in one Region.
type APIStats struct {
	// Requests counts every request, whatever the answer.
	Requests int64 `json:"requests"`
	// BudgetThrottles counts ThrottlingExceptions answered because the
	// Region's read or write budget was spent.
	BudgetThrottles int64 `json:"budgetThrottles"`
	// RandomThrottles counts ThrottlingExceptions injected by ThrottleRate.
	RandomThrottles int64 `json:"randomThrottles"`
	// ServerErrors counts HTTP 5xx answers.
	ServerErrors int64 `json:"serverErrors"`
	// ClientErrors counts every other error answer (ResourceNotFound...).
	ClientErrors int64 `json:"clientErrors"`
}

// WindowStats describe the busiest second of one request class.
type WindowStats struct {
	// Requests counts requests of the class.
	Requests int64 `json:"requests"`
	// MaxPerSecond is the largest number of requests received in any
	// 1-second window, throttled or not: what the client sent.
	MaxPerSecond int `json:"maxPerSecond"`
	// MaxAdmittedPerSecond is the same for requests the budget let through.
	// It never exceeds the budget while one is set.
	MaxAdmittedPerSecond int `json:"maxAdmittedPerSecond"`
}

// opClass says which budget, if any, an operation is under.
type opClass int

const (
	classNone opClass = iota
	classRead
	classWrite
)

// outcome is how a request was answered, for the counters.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeBudgetThrottle
	outcomeRandomThrottle
	outcomeServerError
	outcomeClientError
)

// window tracks the requests of the last second to give both the budget
// decision and the exact busiest-second statistic. Windows are half-open,
// (t-1s, t]; the busiest window always ends at some request, so checking the
// count each time one is added gives the exact maximum without keeping every
// timestamp: memory is bounded by the busiest second.
type window struct {
	times []time.Time // ascending, all within the last second
	max   int
}

func (w *window) prune(now time.Time) {
	cut := now.Add(-time.Second)
	i := 0
	for i < len(w.times) && !w.times[i].After(cut) {
		i++
	}
	w.times = w.times[i:]
}

// count is the number of requests in (now-1s, now].
func (w *window) count(now time.Time) int {
	w.prune(now)
	return len(w.times)
}

func (w *window) add(now time.Time) {
	w.prune(now)
	w.times = append(w.times, now)
	w.max = max(w.max, len(w.times))
}

type classMeter struct {
	requests int64
	received window
	admitted window
}

func (c *classMeter) stats() WindowStats {
	return WindowStats{Requests: c.requests, MaxPerSecond: c.received.max, MaxAdmittedPerSecond: c.admitted.max}
}

type regionMeter struct {
	apis   map[string]*APIStats
	writes classMeter
	reads  classMeter
}

// meter holds the counters and the budget windows. One mutex covers both so
// that the budget decision and the timestamps it is based on are taken in
// one step, in the order requests are admitted.
type meter struct {
	now func() time.Time // time.Now; replaced in tests to place requests exactly

	mu              sync.Mutex
	regions         map[string]*regionMeter
	unauthenticated int64
}

func newMeter() *meter {
	return &meter{now: time.Now, regions: map[string]*regionMeter{}}
}

func (m *meter) region(r string) *regionMeter {
	rm := m.regions[r]
	if rm == nil {
		rm = &regionMeter{apis: map[string]*APIStats{}}
		m.regions[r] = rm
	}
	return rm
}

// admit counts a request and reports whether its class's budget lets it
// through. A budget of N admits a request only if fewer than N were admitted
// in the preceding second, so admitted requests never exceed N in any
// 1-second window, and a client that never sends more than N in any
// 1-second window is never refused.
func (m *meter) admit(region, op string, class opClass, budget int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Read the clock under the lock so admitted timestamps are in order.
	now := m.now()
	rm := m.region(region)
	api := rm.apis[op]
	if api == nil {
		api = &APIStats{}
		rm.apis[op] = api
	}
	api.Requests++
	var c *classMeter
	switch class {
	case classWrite:
		c = &rm.writes
	case classRead:
		c = &rm.reads
	default:
		return true
	}
	c.requests++
	c.received.add(now)
	if budget > 0 && c.admitted.count(now) >= budget {
		return false
	}
	c.admitted.add(now)
	return true
}

func (m *meter) finish(region, op string, o outcome) {
	if o == outcomeOK {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	api := m.region(region).apis[op]
	if api == nil {
		return
	}
	switch o {
	case outcomeBudgetThrottle:
		api.BudgetThrottles++
	case outcomeRandomThrottle:
		api.RandomThrottles++
	case outcomeServerError:
		api.ServerErrors++
	case outcomeClientError:
		api.ClientErrors++
	}
}

func (m *meter) unauthenticatedRequest() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unauthenticated++
}

func (m *meter) snapshot() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Regions: make(map[string]RegionStats, len(m.regions)), Unauthenticated: m.unauthenticated}
	for name, rm := range m.regions {
		apis := make(map[string]APIStats, len(rm.apis))
		for op, a := range rm.apis {
			apis[op] = *a
		}
		s.Regions[name] = RegionStats{APIs: apis, Writes: rm.writes.stats(), Reads: rm.reads.stats()}
	}
	return s
}

func (m *meter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.regions)
	m.unauthenticated = 0
}
