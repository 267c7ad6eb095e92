// Package standin is an in-memory stand-in for AWS Secrets Manager's
// multi-Region replication, served over HTTP in the service's own JSON 1.1
// protocol, so the real aws-sdk-go-v2 client pointed at it with BaseEndpoint
// works unchanged.
//
// It exists because moto, the usual emulator, does not behave like AWS where
// replicad depends on it most: moto reports replicas InSync at once (never
// InProgress), ignores per-Region KMS keys, does not implement
// StopReplicationToReplica, and cannot throttle. replicad's tests and load
// runs need all of those, plus a way to prove from the server's side that a
// client stayed within AWS's request quotas.
//
// # What it serves
//
// CreateSecret, DescribeSecret, ListSecrets, ReplicateSecretToRegions,
// RemoveRegionsFromReplication, StopReplicationToReplica, DeleteSecret and
// GetSecretValue, for every Region of the aws partition behind one endpoint;
// STS AssumeRole (sts.go); and KMS CreateKey, CreateAlias, DescribeKey and
// ListAliases, per (account, Region), for key alias resolution (kms.go).
// The Region of a call is the one in the SigV4 Authorization header's
// credential scope, as the SDK signs it; the signature itself is not checked.
// Errors use AWS's shape ({"__type":..., "message":...}, HTTP 400, or 500 for
// InternalServiceError) and AWS's codes and messages where those are
// documented or publicly observed; errors.go lists them all and says which
// are not verified.
//
// # Behaviour a test can rely on
//
//   - ARNs are arn:aws:secretsmanager:<Region>:<account>:secret:<name>-<6
//     random characters>; a replica has its primary's name and suffix with
//     its own Region.
//   - A new replica is InProgress in the answer that creates it and turns
//     InSync after Options.ReplicationDelay (computed when read; there are no
//     background goroutines). A Region that already holds another secret of
//     the same name gets a Failed entry unless ForceOverwriteReplicaSecret.
//   - Faults (random throttling, random 5xx, latency, and per-Region
//     requests-per-second budgets for writes and for reads) can be changed at
//     any time; Stats reports per-Region, per-operation counters and the
//     busiest second of each budget class.
//
// # Admin endpoints
//
// Under /_standin/: GET stats, GET and POST faults, POST reset, POST
// seed-demo, POST seed (many secrets at once, SeedSecrets), GET healthz.
// See Server.ServeHTTP.
//
// # ListSecrets
//
// Every page (MaxResults 1 to 100, NextToken), SortBy and SortOrder, and
// every documented filter key (description, name, tag-key, tag-value,
// primary-region, owning-service, all) with "!" negation; the conformance
// suite checks the same cases against moto. As on AWS, an entry has no
// ReplicationStatus: a replica is listed in its own Region with its
// primary's PrimaryRegion.
//
// The command cmd/sm-standin serves a Server on a port for manual and load
// testing.
package standin
