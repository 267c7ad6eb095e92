package bench

import (
	"fmt"
	"math"
	"time"
)

// Result is what one case measured.
type Result struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	// Seconds is the case's wall time, set-up included, from Began.
	Seconds float64   `json:"seconds"`
	Began   time.Time `json:"began"`
	// Size is what the case ran at (a scale may shrink a case).
	Size map[string]any `json:"size"`
	// Settings are the flags of the processes and what else the figures
	// depend on.
	Settings map[string]any `json:"settings"`
	Metrics  []Metric       `json:"metrics"`
	Targets  []Target       `json:"targets"`
	// Notes say how the case measures what it measures.
	Notes []string `json:"notes,omitempty"`
	// Error is set when the case could not finish; its figures are partial.
	Error string `json:"error,omitempty"`
	// Statements are PostgreSQL's busiest statements over the case, in a
	// diagnosis run only (Runner.PgStat).
	Statements []Statement `json:"statements,omitempty"`
}

// Metric is one figure.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Target is one of the goals and how the run fared against it.
type Target struct {
	Name string `json:"name"`
	// Goal is the goal in words ("≥ 50% of pgbench TPS").
	Goal   string  `json:"goal"`
	Actual float64 `json:"actual"`
	Bound  float64 `json:"bound"`
	Unit   string  `json:"unit"`
	// AtLeast: met when Actual ≥ Bound; otherwise when Actual ≤ Bound.
	AtLeast bool `json:"at_least"`
	Met     bool `json:"met"`
	// Miss says by how much a missed target was missed.
	Miss string `json:"miss,omitempty"`
}

func newResult(id int, name string) *Result {
	return &Result{ID: id, Name: name, Size: map[string]any{}, Settings: map[string]any{}}
}

func (r *Result) metric(name string, value float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: value, Unit: unit})
}

// latency adds the usual percentiles of a distribution.
func (r *Result) latency(prefix string, s Summary) {
	r.metric(prefix+" p50", s.P50, "ms")
	r.metric(prefix+" p95", s.P95, "ms")
	r.metric(prefix+" p99", s.P99, "ms")
	r.metric(prefix+" max", s.Max, "ms")
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Value returns a metric's value by name (NaN if absent).
func (r *Result) Value(name string) float64 {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value
		}
	}
	return math.NaN()
}

// target records a goal. For a missed one it states the gap both ways:
// absolutely and relative to the bound.
func (r *Result) target(name, goal string, actual, bound float64, unit string, atLeast bool) {
	t := Target{Name: name, Goal: goal, Actual: actual, Bound: bound, Unit: unit, AtLeast: atLeast}
	t.Met = actual <= bound
	if atLeast {
		t.Met = actual >= bound
	}
	if math.IsNaN(actual) {
		t.Met = false
		t.Miss = "not measured"
	} else if !t.Met {
		gap := math.Abs(actual - bound)
		switch {
		case bound == 0:
			t.Miss = fmt.Sprintf("%s %s over", num(gap), unit)
		case atLeast:
			t.Miss = fmt.Sprintf("short by %s %s (%.0f%% below the target)", num(gap), unit, 100*gap/math.Abs(bound))
		default:
			t.Miss = fmt.Sprintf("over by %s %s (%.0f%% above the target)", num(gap), unit, 100*gap/math.Abs(bound))
		}
	}
	r.Targets = append(r.Targets, t)
}

// num formats a figure with precision suited to its size.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case a >= 10000:
		return thousands(int64(math.Round(v)))
	case v == math.Trunc(v):
		return thousands(int64(v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
