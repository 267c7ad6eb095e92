package drift

import (
	"slices"
	"strings"

	"github.com/replicad/replicad/internal/domain"
)

// Kind names one way a secret differs from its policy.
type Kind string

// The kinds of drift, in the order Classify reports them for one secret.
const (
	// KindScheduledForDeletion: the secret is scheduled for deletion; nothing
	// else is reported or fixed for it.
	KindScheduledForDeletion Kind = "SCHEDULED_FOR_DELETION"
	// KindUnexpectedPrimary: the secret's primary is in a Region the policy
	// does not expect; reported, never fixed (moving a primary is a promotion,
	// not a replication).
	KindUnexpectedPrimary Kind = "UNEXPECTED_PRIMARY"
	// KindMissingRegion: a desired Region has no replica.
	KindMissingRegion Kind = "MISSING_REGION"
	// KindFailedReplica: a desired Region's replica is Failed; Message is
	// AWS's status message.
	KindFailedReplica Kind = "FAILED_REPLICA"
	// KindKMSKeyDiffers: a desired Region's replica uses another key.
	KindKMSKeyDiffers Kind = "KMS_KEY_DIFFERS"
	// KindExtraRegion: a replica in a Region the policy does not list.
	KindExtraRegion Kind = "EXTRA_REGION"
)

// Desired is what a policy wants of one secret.
type Desired struct {
	// Replicas maps each desired Region to its KMS key ("" for the AWS
	// managed key). Aliases are resolved before classification, so keys
	// compare as AWS reports them.
	Replicas map[string]string
	// PrimaryRegions, when not empty, are the Regions a selected secret's
	// primary is expected in.
	PrimaryRegions []string
	// SameKey, if set, decides whether a desired Region's key (want) and
	// the key AWS reports for its replica (got) are the same key; callers
	// that resolved aliases in each Region (KMS) compare key ARNs with it.
	// Nil compares the references as written, the AWS managed key's names
	// being equal.
	SameKey func(region, want, got string) bool
}

func (d Desired) sameKey(region, want, got string) bool {
	if sameKey(want, got) {
		return true
	}
	return d.SameKey != nil && d.SameKey(region, want, got)
}

// Drift is one difference between a secret and its policy.
type Drift struct {
	Kind   Kind
	Region string
	// Message is AWS's status message for a Failed replica. It is AWS's text
	// and may name the account: callers redact it before logging.
	Message string
}

// Classify returns every difference between want and the inventory's row,
// ordered by kind then Region, so that the same state always yields the same
// list (plans and duplicate detection rely on that). A replica in the
// primary's own Region never counts as a replica Region.
func Classify(want Desired, got domain.InventorySecret) []Drift {
	if got.Deleted {
		return []Drift{{Kind: KindScheduledForDeletion, Region: got.Region}}
	}
	var out []Drift
	if len(want.PrimaryRegions) > 0 && !slices.Contains(want.PrimaryRegions, got.Region) {
		out = append(out, Drift{Kind: KindUnexpectedPrimary, Region: got.Region})
	}
	var missing, failed, keys, extra []Drift
	for region, key := range want.Replicas {
		if region == got.Region {
			continue
		}
		r, ok := got.Replica(region)
		switch {
		case !ok:
			missing = append(missing, Drift{Kind: KindMissingRegion, Region: region})
		case r.Status == domain.StatusFailed:
			failed = append(failed, Drift{Kind: KindFailedReplica, Region: region, Message: r.StatusMessage})
		case !want.sameKey(region, key, r.KMSKeyID):
			keys = append(keys, Drift{Kind: KindKMSKeyDiffers, Region: region})
		}
	}
	for _, r := range got.Replicas {
		if _, ok := want.Replicas[r.Region]; !ok && r.Region != got.Region {
			extra = append(extra, Drift{Kind: KindExtraRegion, Region: r.Region})
		}
	}
	for _, group := range [][]Drift{missing, failed, keys, extra} {
		slices.SortFunc(group, func(a, b Drift) int { return strings.Compare(a.Region, b.Region) })
		out = append(out, group...)
	}
	return out
}

// sameKey compares a desired key with the one AWS reports. AWS reports the
// managed key either as nothing or as the alias aws/secretsmanager (the
// documentation does not say which; the code accepts both).
func sameKey(want, got string) bool {
	return normalize(want) == normalize(got)
}

func normalize(key string) string {
	switch key {
	case "", "alias/aws/secretsmanager", "aws/secretsmanager":
		return ""
	}
	return key
}

// Fix is what reconciliation would do about one drift.
type Fix string

// The fixes.
const (
	FixNone      Fix = ""          // reported only
	FixReplicate Fix = "REPLICATE" // add the Region with its key
	FixRemove    Fix = "REMOVE"    // remove the Region's replica
	// FixRecreate removes then re-adds a replica: the only way to change a
	// replica's key, so only when the policy explicitly allows it.
	FixRecreate Fix = "RECREATE"
)

// Behaviour is the part of a policy that decides which drift is fixed.
type Behaviour struct {
	RetryFailed   bool
	Prune         bool
	RecreateOnKMS bool
}

// FixFor says what reconciliation does about d under b. A Failed replica is
// retried by re-replicating that Region (with force overwrite only where the
// policy says so — the engine's parameter, not decided here).
func FixFor(b Behaviour, d Drift) Fix {
	switch d.Kind {
	case KindMissingRegion:
		return FixReplicate
	case KindFailedReplica:
		if b.RetryFailed {
			return FixReplicate
		}
	case KindKMSKeyDiffers:
		if b.RecreateOnKMS {
			return FixRecreate
		}
	case KindExtraRegion:
		if b.Prune {
			return FixRemove
		}
	}
	return FixNone
}
