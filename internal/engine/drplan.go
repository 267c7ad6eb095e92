package engine

import "github.com/replicad/replicad/internal/domain"

// Why a secret is left out of a failover or failback plan. They are fixed
// texts: a plan is shown to people and stored, and must carry no value.
const (
	SkipNotReplicatedToTarget = "no replica in the target Region"
	SkipTargetNotInSync       = "the replica in the target Region is not InSync (force promotes it anyway)"
	SkipWrongPrimary          = "the secret's primary is not in the Region being failed over"
	SkipDeleted               = "the secret is scheduled for deletion"
	SkipDiverged              = "the old primary changed after the failover (force overwrites it)"
)

// planFailover returns the steps that move sec's primary from its Region
// (which may be down and is never called) to target, or why it is skipped.
//
// The steps, in order: promote the replica in target (in target); promote
// each other replica in its own Region, so that none is left following a
// primary that cannot be reached; then one ReplicateSecretToRegions from the
// new primary naming exactly those Regions with ForceOverwriteReplicaSecret,
// each with the KMS key it had. AWS documents StopReplicationToReplica as
// callable in the replica's Region when the primary's is unavailable.
func planFailover(sec domain.InventorySecret, from, target string, force bool) ([]domain.Step, string) {
	switch {
	case sec.Deleted:
		return nil, SkipDeleted
	case sec.Region != from:
		return nil, SkipWrongPrimary
	}
	rep, ok := sec.Replica(target)
	if !ok {
		return nil, SkipNotReplicatedToTarget
	}
	if rep.Status != domain.StatusInSync && !force {
		return nil, SkipTargetNotInSync
	}
	steps := []domain.Step{{API: domain.APIStopReplication, Region: target, State: domain.StepPending}}
	var others []domain.ReplicaParam
	for _, r := range sec.Replicas {
		if r.Region == target || r.Region == from {
			continue
		}
		steps = append(steps, domain.Step{API: domain.APIStopReplication, Region: r.Region, State: domain.StepPending})
		others = append(others, domain.ReplicaParam{Region: r.Region, KMSKeyID: r.KMSKeyID})
	}
	if len(others) > 0 {
		steps = append(steps, domain.Step{API: domain.APIReplicate, Region: target, Targets: others, State: domain.StepPending})
	}
	return steps, ""
}

// FailbackMode says how a failback ends.
type FailbackMode int

// Failback modes.
const (
	// FailbackReplicateOver replicates the current primary over the old
	// Region's secret: the current primary stays authoritative.
	FailbackReplicateOver FailbackMode = iota + 1
	// FailbackMovePrimaryBack also promotes the old Region's copy and
	// re-establishes replication from it: the primary moves back.
	FailbackMovePrimaryBack
)

// diverged reports whether the old primary changed after the failover: it
// has a version the new primary lacks, or changed after the new primary
// did. Either signal alone is enough; AWS documents both fields but not
// whether a staging-label move alone updates LastChangedDate, so both are
// read.
func diverged(oldPrimary, current domain.Secret) bool {
	for id := range oldPrimary.VersionIDsToStages {
		if _, ok := current.VersionIDsToStages[id]; !ok {
			return true
		}
	}
	return oldPrimary.LastChanged.After(current.LastChanged)
}

// planFailback returns the steps that bring region back for a secret whose
// primary is now in current, or why it is refused. oldPrimary is the
// DescribeSecret of the old copy in region, cur that of the current primary
// (with its ReplicationStatus). kmsKey is the old Region's key and curKey
// the current primary's (from the inventory): each Region keeps its key.
func planFailback(oldPrimary, cur domain.Secret, region, kmsKey, curKey string, mode FailbackMode, force bool) ([]domain.Step, string) {
	if cur.Deleted {
		return nil, SkipDeleted
	}
	if diverged(oldPrimary, cur) && !force {
		return nil, SkipDiverged
	}
	steps := []domain.Step{{
		API: domain.APIReplicate, Region: cur.PrimaryRegion, State: domain.StepPending,
		Targets: []domain.ReplicaParam{{Region: region, KMSKeyID: kmsKey}},
	}}
	if mode != FailbackMovePrimaryBack {
		return steps, ""
	}
	// Moving back: once the old Region's copy is an InSync replica (the
	// executor waits for that), promote it and the others, then replicate
	// from it to the others with their keys.
	steps = append(steps, domain.Step{API: domain.APIStopReplication, Region: region, State: domain.StepPending})
	others := []domain.ReplicaParam{{Region: cur.PrimaryRegion, KMSKeyID: curKey}}
	for _, r := range cur.Replicas {
		if r.Region == region {
			continue
		}
		steps = append(steps, domain.Step{API: domain.APIStopReplication, Region: r.Region, State: domain.StepPending})
		others = append(others, domain.ReplicaParam{Region: r.Region, KMSKeyID: r.KMSKeyID})
	}
	steps = append(steps, domain.Step{API: domain.APIReplicate, Region: region, Targets: others, State: domain.StepPending})
	return steps, ""
}
