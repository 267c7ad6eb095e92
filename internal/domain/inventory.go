package domain

import (
	"strings"
	"time"
)

// InventorySecret is replicad's record of one secret in one (account,
// Region), as the inventory scanner last saw it with ListSecrets or, after
// replicad's own operations, DescribeSecret. The fleet features — drift,
// policies, readiness, failover selection — read these rows rather than
// calling AWS per secret.
type InventorySecret struct {
	// Account is the AWS account id. It is sensitive in the same way the
	// account in an ARN is: the API edge fingerprints it unless the caller
	// may see it.
	Account string
	// Region is the Region the secret was listed in: its primary Region.
	Region string
	ARN    string
	Name   string
	// KMSKeyID is the primary's key ("" for the AWS managed key).
	KMSKeyID string
	Replicas []Replica
	Tags     map[string]string
	// Deleted is set when the secret is scheduled for deletion.
	Deleted bool
	// LastChanged is AWS's LastChangedDate.
	LastChanged time.Time
	// FirstSeen and LastSeen are when a scan or a describe first and last
	// found the secret; ReadAt is when the replica data above was read
	// (the time the request was sent, so that a newer reading always wins).
	FirstSeen, LastSeen, ReadAt time.Time
	// Gone is set when a complete scan of the secret's (account, Region)
	// no longer lists it; the row is kept, never silently dropped.
	Gone      bool
	GoneSince time.Time
	// Drift is the secret's drift as last computed against the
	// replication policy that selects it.
	Drift SecretDrift
}

// SecretDrift is a secret's drift as last computed and stored on its
// inventory row.
type SecretDrift struct {
	// Policy is the replication policy that selects the secret; "" when
	// none does (then nothing else is set).
	Policy string
	// Conflicts are the other policies that select the secret with
	// different desires: the secret is in conflict, left alone, and has no
	// drift computed (Findings is empty).
	Conflicts []string
	// Findings are the differences from Policy, in drift.Classify's order.
	// Messages are AWS's, unredacted: callers redact them before they
	// leave the process.
	Findings []DriftFinding
	// ComputedAt is when the drift was computed; zero when never.
	ComputedAt time.Time
}

// Kinds are the distinct drift kinds of the findings, in order.
func (d SecretDrift) Kinds() []string {
	var out []string
	for _, f := range d.Findings {
		if len(out) == 0 || out[len(out)-1] != f.Kind {
			out = append(out, f.Kind)
		}
	}
	return out
}

// Replica returns the secret's replica in region.
func (s InventorySecret) Replica(region string) (Replica, bool) {
	for _, r := range s.Replicas {
		if r.Region == region {
			return r, true
		}
	}
	return Replica{}, false
}

// InventoryFilter selects inventory rows. Zero fields select everything;
// gone secrets are left out unless IncludeGone.
type InventoryFilter struct {
	Account       string
	PrimaryRegion string
	ReplicaRegion string
	ReplicaStatus ReplicationStatus
	NamePrefix    string
	// TagKey and TagValue select secrets carrying that tag (any value when
	// TagValue is empty).
	TagKey, TagValue string
	IncludeGone      bool
	// Drift and DriftKind select by drift against the policy selecting a
	// secret (a drift.Kind name; it implies DriftOnly). The inventory
	// alone does not know drift: policies compute it.
	Drift     DriftSelect
	DriftKind string
}

// DriftSelect selects secrets by drift.
type DriftSelect int

// Drift selections.
const (
	DriftAny DriftSelect = iota
	// DriftOnly: secrets that differ from their policy.
	DriftOnly
	// CompliantOnly: secrets a policy selects that match it.
	CompliantOnly
)

// AccountOfARN returns the account id in an ARN (its fifth field), or "".
func AccountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}

// InventoryFromSecret is the inventory row a DescribeSecret reading makes:
// the secret's primary, as AWS reported it when the request was sent at
// readAt. sec must be the primary's reading.
func InventoryFromSecret(sec Secret, readAt time.Time) InventorySecret {
	return InventorySecret{
		Account: AccountOfARN(sec.ARN), Region: sec.PrimaryRegion, ARN: sec.ARN, Name: sec.Name,
		KMSKeyID: sec.KMSKeyID, Replicas: sec.Replicas, Tags: sec.Tags, Deleted: sec.Deleted,
		LastChanged: sec.LastChanged, ReadAt: readAt, LastSeen: readAt,
	}
}
