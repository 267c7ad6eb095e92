// Package testtier names replicad's two test tiers. `go test -short ./...`
// is the fast tier: pure table tests, store tests in a rolled-back
// transaction, server tests against a fake engine and single-process
// integration tests, in under a minute. Tests that start several processes,
// kill them, put load on a budget or measure time against it are the slow
// tier: they call Slow first, and `make test` runs them with the rest.
package testtier

import "testing"

// Slow skips the test under -short.
func Slow(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("slow tier: skipped under -short (make test runs it)")
	}
}
