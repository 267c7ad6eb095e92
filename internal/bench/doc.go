// Package bench is replicad's benchmark harness, behind `make bench`
// (internal/cmd/bench). It measures the real processes: replicad and
// sm-standin are built into a temporary directory and run as binaries,
// against one private PostgreSQL server started with durable settings
// (fsync and synchronous_commit on), the same for every measurement.
//
// Each Case is one of the benchmarks asked for in the project's issue 7:
// accept rate over gRPC against a pgbench baseline, the same over REST,
// a backlog worked end to end against River alone, draining within an AWS
// write quota, pickup latency, read latency, and peak memory. A Case
// records what it measured in a Result: metrics, the targets and
// by how much each was met or missed, the sizes and flags used, and notes
// on how it measures. Where the machine is saturated, the CPU time of each
// process per unit of work (read from /proc) says why a ratio is what it
// is. Cases 1 and 3 are also profiled, in passes of their own.
//
// A Report gathers a run's results with the machine's and PostgreSQL's
// description and renders docs/benchmarks.json and docs/BENCHMARKS.md, into
// which the hand-written analysis (docs/BENCHMARKS.notes.md) is copied as
// it is. TestSmoke runs every case at a tiny size so the harness stays in
// working order under `make test`.
package bench
