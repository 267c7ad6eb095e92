package validate

import (
	"fmt"
	"math"
	"regexp"
	"unicode/utf8"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/drift"
)

// Limits of a replication policy.
const (
	MaxPolicySelectorEntries = 100
	MaxPolicyGlobLength      = 512
	MaxPolicyTagKey          = 128
	MaxPolicyTagValue        = 256
	MaxPlanSecrets           = 1000
	DefaultPlanSecrets       = 100
)

var (
	policyNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	accountRE    = regexp.MustCompile(`^[0-9]{12}$`)
)

// PolicyName checks a policy name field.
func PolicyName(field, name string) error {
	var c collector
	policyName(&c, field, name)
	return c.err()
}

func policyName(c *collector, field, name string) {
	switch {
	case name == "":
		c.add(field, "REQUIRED", "a policy name is required")
	case !policyNameRE.MatchString(name):
		c.add(field, "INVALID_POLICY_NAME", "a policy name is 1-63 lower-case letters, digits and hyphens, starting with a letter")
	}
}

// Policy validates a ReplicationPolicy at field (such as "policy") and
// converts it. Every bad field is reported at once.
func (r *Rules) Policy(field string, p *replicadv1.ReplicationPolicy) (domain.Policy, error) {
	var c collector
	if p == nil {
		c.add(field, "REQUIRED", "a policy is required")
		return domain.Policy{}, c.err()
	}
	f := func(sub string) string { return field + "." + sub }
	policyName(&c, f("name"), p.GetName())
	out := domain.Policy{
		Name: p.GetName(), RetryFailed: p.GetRetryFailed(), ForceOverwrite: p.GetForceOverwrite(),
		Prune: p.GetPrune(), RecreateOnKMSChange: p.GetRecreateOnKmsChange(), WriteBudgetShare: p.GetWriteBudgetShare(),
		ETag: p.GetEtag(),
	}
	switch p.GetMode() {
	case replicadv1.PolicyMode_POLICY_MODE_ENFORCE:
		out.Mode = domain.PolicyEnforce
	case replicadv1.PolicyMode_POLICY_MODE_REPORT:
		out.Mode = domain.PolicyReport
	case replicadv1.PolicyMode_POLICY_MODE_UNSPECIFIED:
		c.add(f("mode"), "REQUIRED", "mode is ENFORCE or REPORT")
	default:
		c.add(f("mode"), "INVALID_ENUM", "mode is ENFORCE or REPORT")
	}
	share := p.GetWriteBudgetShare()
	switch {
	case math.IsNaN(share) || share < 0 || share > 1:
		c.add(f("write_budget_share"), "OUT_OF_RANGE", "a share of the write budget is in (0, 1]; 0 means %v", domain.DefaultWriteBudgetShare)
	case share == 0:
		out.WriteBudgetShare = domain.DefaultWriteBudgetShare
	}
	out.Selector = r.selector(&c, f("selector"), p.GetSelector())

	reps := p.GetReplicas()
	switch {
	case len(reps) == 0:
		c.add(f("replicas"), "REQUIRED", "at least one desired Region is required")
	case len(reps) > MaxRegions:
		c.add(f("replicas"), "TOO_MANY", "at most %d Regions", MaxRegions)
	}
	seen := map[string]bool{}
	for i, rr := range firstN(reps, MaxRegions) {
		rf := fmt.Sprintf("%s[%d]", f("replicas"), i)
		reg := rr.GetRegion()
		if !r.region(&c, rf+".region", reg) {
			continue
		}
		if seen[reg] {
			c.add(rf+".region", "DUPLICATE_REGION", "the Region is listed more than once")
			continue
		}
		seen[reg] = true
		r.kmsKey(&c, rf+".kms_key_id", rr.GetKmsKeyId(), reg)
		out.Replicas = append(out.Replicas, domain.ReplicaParam{Region: reg, KMSKeyID: rr.GetKmsKeyId()})
	}
	return out, c.err()
}

func (r *Rules) selector(c *collector, field string, s *replicadv1.PolicySelector) domain.PolicySelector {
	if s == nil {
		c.add(field, "REQUIRED", "a selector is required (set select_all to select every secret)")
		return domain.PolicySelector{}
	}
	f := func(sub string) string { return field + "." + sub }
	out := domain.PolicySelector{SelectAll: s.GetSelectAll()}
	list := func(name string, items []string, check func(string, string) bool) []string {
		if len(items) > MaxPolicySelectorEntries {
			c.add(f(name), "TOO_MANY", "at most %d entries", MaxPolicySelectorEntries)
			return nil
		}
		seen := map[string]bool{}
		var kept []string
		for i, it := range items {
			ef := fmt.Sprintf("%s[%d]", f(name), i)
			switch {
			case seen[it]:
				c.add(ef, "DUPLICATE", "listed more than once")
			case check(ef, it):
				seen[it] = true
				kept = append(kept, it)
			}
		}
		return kept
	}
	out.Accounts = list("accounts", s.GetAccounts(), func(ef, a string) bool {
		if !accountRE.MatchString(a) {
			c.add(ef, "INVALID_ACCOUNT", "an AWS account id is 12 digits")
			return false
		}
		return true
	})
	out.PrimaryRegions = list("primary_regions", s.GetPrimaryRegions(), func(ef, reg string) bool { return r.region(c, ef, reg) })
	glob := func(ef, g string) bool {
		switch {
		case utf8.RuneCountInString(g) > MaxPolicyGlobLength:
			c.add(ef, "TOO_LONG", "a name glob is at most %d characters", MaxPolicyGlobLength)
			return false
		case !printableASCII(g):
			c.add(ef, "INVALID_GLOB", "a name glob is printable ASCII")
			return false
		}
		if _, err := drift.CompileGlob(g); err != nil {
			c.add(ef, "INVALID_GLOB", "not a valid name glob (\"*\" within a path segment, \"**\" across segments)")
			return false
		}
		return true
	}
	out.NameGlobs = list("name_globs", s.GetNameGlobs(), glob)
	out.ExcludeNameGlobs = list("exclude_name_globs", s.GetExcludeNameGlobs(), glob)
	if len(s.GetTags()) > MaxPolicySelectorEntries {
		c.add(f("tags"), "TOO_MANY", "at most %d tags", MaxPolicySelectorEntries)
	} else {
		for _, k := range sortedKeys(s.GetTags()) {
			v := s.GetTags()[k]
			tf := f("tags")
			if len(k) <= maxEchoedKey && printableASCII(k) {
				tf = fmt.Sprintf("%s[%q]", f("tags"), k)
			}
			switch {
			case k == "" || utf8.RuneCountInString(k) > MaxPolicyTagKey:
				c.add(tf, "INVALID_TAG_KEY", "a tag key is 1-%d characters", MaxPolicyTagKey)
			case utf8.RuneCountInString(v) > MaxPolicyTagValue:
				c.add(tf, "TOO_LONG", "a tag value is at most %d characters", MaxPolicyTagValue)
			default:
				if out.Tags == nil {
					out.Tags = map[string]string{}
				}
				out.Tags[k] = v
			}
		}
	}
	if len(s.GetNameGlobs()) == 0 && len(s.GetTags()) == 0 && !s.GetSelectAll() {
		c.add(field, "SELECTS_EVERYTHING", "a selector with neither name globs nor tags selects every secret: set select_all to mean that")
	}
	return out
}

// PlanSecrets validates PlanReplicationPolicy's max_secrets and returns
// the effective value.
func PlanSecrets(n int32) (int, error) {
	var c collector
	switch {
	case n < 0 || n > MaxPlanSecrets:
		c.add("max_secrets", "OUT_OF_RANGE", "must be between 0 and %d", MaxPlanSecrets)
	case n == 0:
		return DefaultPlanSecrets, nil
	}
	return int(n), c.err()
}
