// Package e2e holds replicad's process-level end-to-end tests: real
// binaries built from this checkout, started, killed with SIGKILL and
// stopped with SIGTERM while they work, against a real PostgreSQL and the
// Secrets Manager stand-in served over HTTP. It has no non-test code.
package e2e
