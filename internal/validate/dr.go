package validate

import (
	"fmt"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/secretid"
)

// MaxNameGlobs and MaxGlobLength bound a failover's name selector.
const (
	MaxNameGlobs  = 50
	MaxGlobLength = 512
	MaxTagFilters = 20
)

// Readiness validates a GetRegionReadinessRequest.
func (r *Rules) Readiness(req *replicadv1.GetRegionReadinessRequest) error {
	var c collector
	ok := r.region(&c, "region", req.GetRegion())
	if r.region(&c, "target", req.GetTarget()) && ok && req.GetRegion() == req.GetTarget() {
		c.add("target", "SAME_REGION", "the target must differ from the Region")
	}
	return c.err()
}

// Failback validates a FailbackRequest.
func (r *Rules) Failback(req *replicadv1.FailbackRequest) error {
	var c collector
	if !IsUUID(req.GetFailoverId()) {
		c.add("failover_id", "INVALID_OPERATION_ID", "a failover operation id is a UUID")
	}
	if _, ok := replicadv1.FailbackMode_name[int32(req.GetMode())]; !ok {
		c.add("mode", "INVALID_MODE", "mode is FAILBACK_MODE_REPLICATE_OVER or FAILBACK_MODE_MOVE_PRIMARY_BACK")
	}
	r.mutation(&c, req.GetRequestId(), req.GetReason(), nil)
	return c.err()
}

// Failover validates a FailoverRequest and returns the one secret it names,
// if any (zero ID otherwise).
func (r *Rules) Failover(req *replicadv1.FailoverRequest) (secretid.ID, error) {
	var c collector
	ok := r.region(&c, "source_region", req.GetSourceRegion())
	if r.region(&c, "target_region", req.GetTargetRegion()) && ok && req.GetSourceRegion() == req.GetTargetRegion() {
		c.add("target_region", "SAME_REGION", "the target Region must differ from the source Region")
	}
	var id secretid.ID
	if s := req.GetSecretId(); s != "" {
		var err error
		if id, err = secretid.Parse(s); err != nil {
			c.add("secret_id", "INVALID_SECRET_ID", "%s", describeParse(err))
		} else if id.IsARN() && id.Region != req.GetSourceRegion() {
			c.add("secret_id", "WRONG_REGION", "the ARN must be the secret's in the source Region")
		}
	}
	if len(req.GetNameGlobs()) > MaxNameGlobs {
		c.add("name_globs", "TOO_MANY", "at most %d globs", MaxNameGlobs)
	}
	for i, g := range firstN(req.GetNameGlobs(), MaxNameGlobs) {
		field := fmt.Sprintf("name_globs[%d]", i)
		switch {
		case g == "":
			c.add(field, "REQUIRED", "a glob must not be empty")
		case len(g) > MaxGlobLength:
			c.add(field, "TOO_LONG", "at most %d characters", MaxGlobLength)
		}
	}
	if len(req.GetTags()) > MaxTagFilters {
		c.add("tags", "TOO_MANY", "at most %d tags", MaxTagFilters)
	}
	for _, k := range sortedKeys(req.GetTags()) {
		if k == "" {
			c.add("tags", "INVALID_TAG_KEY", "a tag key must not be empty")
		}
	}
	r.mutation(&c, req.GetRequestId(), req.GetReason(), nil)
	return id, c.err()
}
