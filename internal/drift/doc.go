// Package drift compares a secret's desired replication — the Regions and
// per-Region KMS keys a fleet policy asks for — with what the inventory last
// saw, and names each difference. It is pure: no database, no AWS, no clock,
// so reconciliation, plans, status and ListSecrets all classify the same way.
//
// AWS-computed fields are never drift: a replica InProgress is on its way to
// InSync, and a last-accessed date changes on every read.
package drift
