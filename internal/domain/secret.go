package domain

import "time"

// ReplicationStatus is a replica's status as Secrets Manager reports it
// (ReplicationStatusType.Status).
type ReplicationStatus string

// Replication statuses.
const (
	StatusInProgress ReplicationStatus = "InProgress"
	StatusInSync     ReplicationStatus = "InSync"
	StatusFailed     ReplicationStatus = "Failed"
)

// Replica is one entry of a secret's ReplicationStatus.
type Replica struct {
	Region        string
	KMSKeyID      string
	Status        ReplicationStatus
	StatusMessage string
	LastAccessed  time.Time
}

// Secret is what DescribeSecret says about a secret's replication.
type Secret struct {
	ARN, Name     string
	PrimaryRegion string
	Replicas      []Replica
	// Deleted is set when the secret is scheduled for deletion.
	Deleted bool
	// LastChanged is DescribeSecret's LastChangedDate (zero if absent).
	LastChanged time.Time
	// VersionIDsToStages is DescribeSecret's VersionIdsToStages: each
	// version id with its staging labels. With LastChanged it is how a
	// failback tells whether the old primary changed after a failover.
	VersionIDsToStages map[string][]string
	// KMSKeyID is the primary's key ("" for the AWS managed key) and Tags
	// its tags, as DescribeSecret reports them: the inventory records both.
	KMSKeyID string
	Tags     map[string]string
}

// Replica returns the secret's replica in region.
func (s Secret) Replica(region string) (Replica, bool) {
	for _, r := range s.Replicas {
		if r.Region == region {
			return r, true
		}
	}
	return Replica{}, false
}
