// Package replictl is the replicad command-line client: it turns commands
// such as `replictl replicate prod/db --region eu-west-3 --wait` into gRPC
// calls, follows long-running operations, and reports the outcome both as
// text for people and as JSON for scripts.
//
// The exit status is part of the interface, so scripts can branch on it
// without parsing output:
//
//	0  success (with --wait: the operation SUCCEEDED)
//	1  the operation ended FAILED or CANCELLED, or the audit chain is broken
//	2  bad usage, or the server refused the request as INVALID_ARGUMENT
//	3  the server could not be reached
//	4  any other error (not found, permission denied, failed precondition…)
//
// cmd/replictl is a thin main around Run, so tests drive the whole client
// in-process, including under a pseudo-terminal.
package replictl
