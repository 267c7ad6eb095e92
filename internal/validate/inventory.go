package validate

import (
	"strings"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/drift"
	"github.com/replicad/replicad/internal/secretid"
)

// Limits of the inventory filters.
const (
	MaxNamePrefix  = 512
	MaxTagKey      = 128
	MaxTagValue    = 256
	MaxInventoryOp = 100
)

// DriftKinds are the kinds ListSecrets' drift_kind accepts.
var DriftKinds = []drift.Kind{
	drift.KindMissingRegion, drift.KindFailedReplica, drift.KindKMSKeyDiffers,
	drift.KindExtraRegion, drift.KindUnexpectedPrimary, drift.KindScheduledForDeletion,
}

var replicationStatusFromProto = map[replicadv1.ReplicationStatus]domain.ReplicationStatus{
	replicadv1.ReplicationStatus_REPLICATION_STATUS_UNSPECIFIED: "",
	replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS: domain.StatusInProgress,
	replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC:     domain.StatusInSync,
	replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED:      domain.StatusFailed,
}

// ListSecrets validates an inventory ListSecretsRequest and returns its
// filter; the page token is checked where it is decoded. No message echoes
// a value: the account and tags are sensitive.
func (r *Rules) ListSecrets(req *replicadv1.ListSecretsRequest) (domain.InventoryFilter, error) {
	var c collector
	f := domain.InventoryFilter{
		Account: req.GetAccount(), PrimaryRegion: req.GetPrimaryRegion(), ReplicaRegion: req.GetReplicaRegion(),
		NamePrefix: req.GetNamePrefix(), IncludeGone: req.GetShowGone(),
	}
	if req.GetPageSize() < 0 {
		c.add("page_size", "OUT_OF_RANGE", "must not be negative")
	}
	if a := req.GetAccount(); a != "" && !IsAccountID(a) {
		c.add("account", "INVALID_ACCOUNT", "an AWS account id is 12 digits")
	}
	if reg := req.GetPrimaryRegion(); reg != "" {
		r.region(&c, "primary_region", reg)
	}
	if reg := req.GetReplicaRegion(); reg != "" {
		r.region(&c, "replica_region", reg)
	}
	status, ok := replicationStatusFromProto[req.GetReplicaStatus()]
	if !ok {
		c.add("replica_status", "INVALID_ENUM", "not a known replication status")
	}
	f.ReplicaStatus = status
	switch req.GetDrift() {
	case replicadv1.DriftFilter_DRIFT_FILTER_UNSPECIFIED:
	case replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED:
		f.Drift = domain.DriftOnly
	case replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT:
		f.Drift = domain.CompliantOnly
	default:
		c.add("drift", "INVALID_ENUM", "not a known drift filter")
	}
	if k := req.GetDriftKind(); k != "" {
		known := false
		for _, d := range DriftKinds {
			known = known || string(d) == k
		}
		switch {
		case !known:
			c.add("drift_kind", "INVALID_DRIFT_KIND", "one of MISSING_REGION, FAILED_REPLICA, KMS_KEY_DIFFERS, EXTRA_REGION, UNEXPECTED_PRIMARY, SCHEDULED_FOR_DELETION")
		case f.Drift == domain.CompliantOnly:
			c.add("drift_kind", "CONFLICTING_FILTERS", "a drift kind selects drifted secrets; it cannot be combined with drift = COMPLIANT")
		default:
			f.Drift, f.DriftKind = domain.DriftOnly, k
		}
	}
	if p := req.GetNamePrefix(); len(p) > MaxNamePrefix {
		c.add("name_prefix", "TOO_LONG", "at most %d characters", MaxNamePrefix)
	} else if !validNameChars(p) {
		c.add("name_prefix", "INVALID_NAME_PREFIX", "secret names hold only ASCII letters, digits and /_+=.@-")
	}
	if tag := req.GetTag(); tag != "" {
		key, value, hasValue := strings.Cut(tag, "=")
		switch {
		case key == "":
			c.add("tag", "INVALID_TAG", "a tag filter is KEY or KEY=VALUE with a non-empty key")
		case len(key) > MaxTagKey:
			c.add("tag", "TOO_LONG", "a tag key is at most %d characters", MaxTagKey)
		case len(value) > MaxTagValue:
			c.add("tag", "TOO_LONG", "a tag value is at most %d characters", MaxTagValue)
		case hasValue && value == "":
			c.add("tag", "INVALID_TAG", "KEY= with no value: pass KEY alone to match any value")
		}
		f.TagKey, f.TagValue = key, value
	}
	return f, c.err()
}

// GetSecret validates an inventory GetSecretRequest and returns the ARN.
func (r *Rules) GetSecret(req *replicadv1.GetSecretRequest) (secretid.ID, error) {
	var c collector
	var id secretid.ID
	switch s := req.GetSecretId(); s {
	case "":
		c.add("secret_id", "REQUIRED", "the secret's ARN is required")
	default:
		var err error
		switch id, err = secretid.Parse(s); {
		case err != nil:
			c.add("secret_id", "INVALID_SECRET_ID", "%s", describeParse(err))
		case !id.IsARN():
			c.add("secret_id", "ARN_REQUIRED", "the inventory names secrets by ARN: name the secret by its full ARN")
		case !r.allowed[id.Region]:
			c.add("secret_id", "REGION_NOT_ALLOWED", "the ARN's Region is not one this server may act in")
		}
	}
	if n := req.GetRecentOperations(); n < 0 || n > MaxInventoryOp {
		c.add("recent_operations", "OUT_OF_RANGE", "must be between 0 and %d", MaxInventoryOp)
	}
	return id, c.err()
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

func validNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case strings.IndexByte("/_+=.@-", ch) >= 0:
		default:
			return false
		}
	}
	return true
}
