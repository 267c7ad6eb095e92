// Package testtier names replicad's two test tiers. `go test -short ./...`
// is the fast tier: pure table tests, store tests in a rolled-back
// transaction, server tests against a fake engine and single-process
// integration tests, in under a minute. Tests that start several processes,
// kill them, put load on a budget or measure time against it are the slow
// tier: they call Slow first, and `make test` runs them with the rest.
package testtier

import (
	"os"
	"testing"
)

// Slow skips the test under -short.
func Slow(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("slow tier: skipped under -short (make test runs it)")
	}
}

// MeasureEnv names the environment variable that turns a latency test's
// judgement on: `make measure` sets it. Under make test, with the race
// detector and every package testing at once on a shared machine, such a
// test runs its scenario, checks what must hold whatever the timing and
// logs its figures, but does not judge them: a timing is a measurement,
// taken where the machine is not the test's own noise.
const MeasureEnv = "REPLICAD_MEASURE"

// Measuring reports whether timing targets are judged in this run.
func Measuring() bool { return os.Getenv(MeasureEnv) != "" }
