// Package cpucost compares what two pieces of work cost in CPU time, for
// tests that bound how a cost grows with the size of the input (linear, not
// quadratic) rather than how long it takes: a ratio measured in one run
// holds on a loaded machine, where a time threshold does not.
package cpucost

import (
	"syscall"
	"time"
)

// trialCPU is the least CPU time one trial spends, so that the clock's
// granularity and one-off pauses are small against it.
const trialCPU = 40 * time.Millisecond

// trials per function: the cheapest trial is the one least disturbed.
const trials = 5

// Ratio returns how many times more CPU one call of big costs than one call
// of small. Trials of the two alternate, so that load from elsewhere falls
// on both; each trial repeats its function until it has used trialCPU; the
// cheapest trial of each is compared.
func Ratio(small, big func()) float64 {
	var bestSmall, bestBig time.Duration
	for i := range trials {
		s, b := PerCall(small), PerCall(big)
		if i == 0 || s < bestSmall {
			bestSmall = s
		}
		if i == 0 || b < bestBig {
			bestBig = b
		}
	}
	if bestSmall <= 0 {
		bestSmall = time.Nanosecond
	}
	return float64(bestBig) / float64(bestSmall)
}

// PerCall returns the CPU time of one call of f, averaged over as many
// calls as fit in trialCPU (at least one). It counts the whole process, so
// work f causes in other goroutines (a server handling f's request) is
// counted too.
func PerCall(f func()) time.Duration {
	start := Now()
	n := 0
	for {
		f()
		n++
		if used := Now() - start; used >= trialCPU {
			return used / time.Duration(n)
		}
	}
}

// Now is the process's CPU time so far (user and system).
func Now() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
