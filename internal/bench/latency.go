package bench

import (
	"math"
	"slices"
	"time"
)

// Latencies collects request latencies. Benchmarks record at most a few
// hundred thousand samples, so keeping them all and sorting once gives
// exact percentiles without a histogram library.
type Latencies struct {
	samples []time.Duration
}

// Add records one latency.
func (l *Latencies) Add(d time.Duration) { l.samples = append(l.samples, d) }

// Merge appends another collector's samples.
func (l *Latencies) Merge(o *Latencies) { l.samples = append(l.samples, o.samples...) }

// Len is the number of samples.
func (l *Latencies) Len() int { return len(l.samples) }

// Summary is what a latency distribution is reported as, in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summarize sorts the samples and reads the percentiles (nearest rank).
func (l *Latencies) Summarize() Summary {
	n := len(l.samples)
	if n == 0 {
		return Summary{}
	}
	slices.Sort(l.samples)
	var sum time.Duration
	for _, d := range l.samples {
		sum += d
	}
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(n))) - 1
		return ms(l.samples[max(0, min(i, n-1))])
	}
	return Summary{
		Count: n,
		Mean:  ms(sum / time.Duration(n)),
		P50:   rank(50),
		P95:   rank(95),
		P99:   rank(99),
		Max:   ms(l.samples[n-1]),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
