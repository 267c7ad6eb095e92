// Package policytest holds the end-to-end tests of fleet replication
// policies (issue 14): a whole replicad in-process on real PostgreSQL,
// driven over gRPC and REST, against the Secrets Manager stand-in through
// the AWS SDK. It has no code of its own besides these tests.
package policytest
