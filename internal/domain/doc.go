// Package domain holds replicad's shared vocabulary: the operation model
// (operations, their kinds and states, per-Region progress, errors and
// parameters), what Secrets Manager reports about a secret, the filters the
// API reads with, and the canonical error codes an operation can end with.
//
// It is a leaf: it imports nothing of replicad's, so every layer — the API
// edge, the engine, the queue, the AWS adapter and the store — speaks it
// without depending on one another, the way River's rivertype serves River's
// packages. It holds types and the rules that are true of them everywhere
// (which states are terminal); behaviour lives in the layers.
package domain
