package access

import (
	"fmt"
	"slices"
	"strings"

	"github.com/replicad/replicad/internal/secretid"
)

// Policy is a parsed, validated policy. It is immutable, so it is safe for
// concurrent use and a Store can swap whole policies atomically.
type Policy struct {
	digest    string
	rules     []*rule
	approvals []*approvalRule
}

// Digest is the hex SHA-256 of the policy file, as sha256sum prints it: it
// names the policy version that made a decision, in audit records.
func (p *Policy) Digest() string { return p.digest }

// rule is a compiled rule.
type rule struct {
	index      int // position in the file, from 1
	name       string
	deny       bool
	principals []glob
	groups     []glob
	allActions bool
	actions    []string
	secrets    []secretPattern
	regions    []glob // empty: any Region
}

func (r *rule) effect() string {
	if r.deny {
		return EffectDeny
	}
	return EffectAllow
}

// Request is a question to the policy: may Principal (member of Groups) do
// Action on Secret in Regions?
type Request struct {
	Principal string
	Groups    []string
	// Action is one of the Action* constants.
	Action string
	// Secret is the secret's name or ARN, as the caller gave it. "" means
	// every secret (listing operations or reading the audit log without a
	// secret filter): only rules whose secrets include "**" allow that, and
	// any deny rule for the principal and action refuses it.
	Secret string
	// Regions are the Regions the action touches: targets of replicate and
	// remove, the Region promoted in. Empty for actions that touch none
	// (status, operations.*, audit.read); rules' regions are then not
	// consulted.
	Regions []string
}

// Decision is the policy's answer.
type Decision struct {
	Allowed bool
	// Rule names the deciding rule: the deny that refused, or the allow that
	// allowed (for several Regions, the one that allowed the first). "" for
	// the default deny. For logs and audit, not for the caller.
	Rule string
	// Reason explains the decision in a sentence that may name rules: for
	// logs, audit and the policy check CLI, not for the caller.
	Reason string
	// Region is the Region a refusal is about: the first Region denied by a
	// Region-scoped rule or allowed by none. "" when allowed, or when the
	// refusal is about the request as a whole.
	Region string
	// Policy is the Digest of the policy that decided.
	Policy string

	action, secret string
}

// Err returns nil if the request is allowed, else a *DeniedError for the
// caller: "permission denied: <action> on <secret> in <region>", with no
// word of the policy's contents. It matches ErrPermissionDenied.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &DeniedError{Action: d.action, Secret: d.secret, Region: d.Region}
}

// Explanation is a Decision with the detail behind it, for the policy check
// CLI and for tests.
type Explanation struct {
	Request  Request
	Decision Decision
	// Regions has one entry per requested Region, in request order; one
	// entry with Region "" when the request touches none. Empty when the
	// request itself was invalid.
	Regions []RegionExplanation
}

// RegionExplanation is how the policy treats one Region of a request.
type RegionExplanation struct {
	Region  string
	Allowed bool
	// Rule decided this Region: the most specific matching deny, else the
	// most specific matching allow, else "" (no rule allows).
	Rule string
	// Matched lists every matching rule, most specific first, denies before
	// allows.
	Matched []MatchedRule
}

// MatchedRule is a rule that matched a request.
type MatchedRule struct {
	Name   string
	Effect string // EffectAllow or EffectDeny
}

// Decide answers req. It never fails: anything it cannot make sense of is
// denied, with the Reason saying why.
//
// A request is allowed when, for each Region it touches, no deny rule
// matches and at least one allow rule matches. A matching deny always wins
// over any allow, however specific the allow: an allow can never override
// a deny, so a deny is a guarantee its author can rely on. Specificity only
// picks which rule to name (see the package documentation).
func (p *Policy) Decide(req Request) Decision {
	return p.Explain(req).Decision
}

// Explain is Decide with the per-Region detail.
func (p *Policy) Explain(req Request) Explanation {
	ex := Explanation{Request: req, Decision: Decision{Policy: p.digest, action: req.Action, secret: req.Secret}}
	refuse := func(reason string) Explanation {
		ex.Decision.Reason = reason
		return ex
	}
	if req.Principal == "" {
		return refuse("request has no principal")
	}
	if !isAction(req.Action) {
		return refuse(fmt.Sprintf("unknown action %q", req.Action))
	}
	t := target{all: req.Secret == ""}
	if !t.all {
		id, err := secretid.Parse(req.Secret)
		if err != nil {
			return refuse(err.Error())
		}
		t.id = id
		t.denyNames = []string{id.Name}
		if id.IsARN() {
			// The ARN's resource as written: if it had no random suffix and
			// secretid trimmed six characters of real name, a deny on the
			// real name still matches.
			if res := req.Secret[strings.LastIndex(req.Secret, ":")+1:]; res != id.Name {
				t.denyNames = append(t.denyNames, res)
			}
		}
	}
	regions := req.Regions
	if len(regions) == 0 {
		regions = []string{""}
	}
	for _, r := range req.Regions {
		if r == "" || strings.IndexFunc(r, func(c rune) bool { return !isRegionChar(c) }) >= 0 {
			return refuse(fmt.Sprintf("invalid Region %q", r))
		}
	}

	// Region-independent matching, once per rule.
	var candidates []candidate
	for _, r := range p.rules {
		subject := r.subjectMatch(req.Principal, req.Groups)
		if subject == 0 || !(r.allActions || slices.Contains(r.actions, req.Action)) {
			continue
		}
		secret, ok := r.secretMatch(t)
		if !ok {
			continue
		}
		action := 1
		if r.allActions && !slices.Contains(r.actions, req.Action) {
			action = 0
		}
		candidates = append(candidates, candidate{r, specificity{secret: secret, subject: subject, action: action, index: r.index}})
	}

	// Per Region: the most specific deny and allow. Across Regions: the most
	// specific deny of all, else the first Region no rule allows.
	var (
		deny           *candidate
		denyRegion     string
		firstUnallowed = -1
	)
	for i, region := range regions {
		var bestDeny, bestAllow *candidate
		var matched []candidate
		for _, c := range candidates {
			level, ok := c.r.regionMatch(region)
			if !ok {
				continue
			}
			c.spec.region = level
			matched = append(matched, c)
		}
		slices.SortStableFunc(matched, func(a, b candidate) int {
			switch {
			case a.r.deny != b.r.deny && a.r.deny:
				return -1
			case a.r.deny != b.r.deny:
				return 1
			case a.spec.moreSpecificThan(b.spec):
				return -1
			case b.spec.moreSpecificThan(a.spec):
				return 1
			}
			return 0
		})
		re := RegionExplanation{Region: region}
		for j := range matched {
			c := &matched[j]
			re.Matched = append(re.Matched, MatchedRule{Name: c.r.name, Effect: c.r.effect()})
			switch {
			case c.r.deny && bestDeny == nil:
				bestDeny = c
			case !c.r.deny && bestAllow == nil:
				bestAllow = c
			}
		}
		switch {
		case bestDeny != nil:
			re.Rule = bestDeny.r.name
			if deny == nil || bestDeny.spec.moreSpecificThan(deny.spec) {
				deny, denyRegion = bestDeny, region
			}
		case bestAllow != nil:
			re.Rule, re.Allowed = bestAllow.r.name, true
		case firstUnallowed < 0:
			firstUnallowed = i
		}
		ex.Regions = append(ex.Regions, re)
	}

	d := &ex.Decision
	in := ""
	switch {
	case deny != nil:
		d.Rule = deny.r.name
		// A deny scoped to Regions is about the Region it matched; one
		// for every Region is about the request as a whole.
		if len(deny.r.regions) > 0 && denyRegion != "" {
			d.Region = denyRegion
			in = " in " + denyRegion
		}
		d.Reason = fmt.Sprintf("denied by rule %q%s", d.Rule, in)
	case firstUnallowed >= 0:
		d.Region = regions[firstUnallowed]
		if d.Region != "" {
			in = " in " + d.Region
		}
		d.Reason = fmt.Sprintf("no rule allows %s on %s%s", req.Action, describeSecret(req.Secret), in)
	default:
		d.Allowed = true
		d.Rule = ex.Regions[0].Rule
		d.Reason = fmt.Sprintf("allowed by rule %q", d.Rule)
	}
	return ex
}

func describeSecret(s string) string {
	if s == "" {
		return "all secrets"
	}
	return s
}

// candidate is a rule that matches a request but for its Regions.
type candidate struct {
	r    *rule
	spec specificity
}

// target is the secret a request is about.
type target struct {
	all       bool // Request.Secret == "": every secret
	id        secretid.ID
	denyNames []string // names a deny rule's name patterns are matched against
}

// specificity orders matching rules to pick the one a decision names.
// Compared field by field: the more characters the matching secret pattern
// pins, the more specific; then an exact principal over a principal pattern
// over a group; then a named action over "*"; then an exact Region over a
// Region pattern over any Region; finally the earlier rule in the file.
type specificity struct {
	secret, subject, action, region int
	index                           int
}

func (s specificity) moreSpecificThan(o specificity) bool {
	for _, c := range [][2]int{{s.secret, o.secret}, {s.subject, o.subject}, {s.action, o.action}, {s.region, o.region}} {
		if c[0] != c[1] {
			return c[0] > c[1]
		}
	}
	return s.index < o.index
}

// Subject match levels, for specificity.
const (
	subjectGroup            = 1
	subjectPrincipalPattern = 2
	subjectPrincipalExact   = 3
)

// subjectMatch reports how the rule names the caller: 0 if it does not.
// A rule applies to its principals and to members of its groups.
func (r *rule) subjectMatch(principal string, groups []string) int {
	best := 0
	for _, g := range r.principals {
		if g.match(principal) {
			if g.re == nil {
				return subjectPrincipalExact
			}
			best = subjectPrincipalPattern
		}
	}
	if best > 0 {
		return best
	}
	for _, g := range r.groups {
		for _, member := range groups {
			if g.match(member) {
				return subjectGroup
			}
		}
	}
	return 0
}

// secretMatch reports whether the rule covers the request's secret, and
// the specificity of the best matching pattern. Allow and deny rules match
// differently where a request leaves something unknown, always so as to
// refuse rather than allow: see secretPattern and Request.Secret.
func (r *rule) secretMatch(t target) (int, bool) {
	best, ok := 0, false
	for _, p := range r.secrets {
		var m bool
		if r.deny {
			m = p.matchDeny(t)
		} else {
			m = p.matchAllow(t)
		}
		if m && (!ok || p.literals() > best) {
			best, ok = p.literals(), true
		}
	}
	return best, ok
}

func (p secretPattern) matchAllow(t target) bool {
	if t.all {
		return !p.arn && p.name.matchesEverything()
	}
	if p.arn && !(t.id.IsARN() && p.arnFieldsMatch(t.id)) {
		return false
	}
	return p.name.match(t.id.Name)
}

func (p secretPattern) matchDeny(t target) bool {
	if t.all {
		return true // some secret of "all" matches any pattern
	}
	if p.arn && t.id.IsARN() && !p.arnFieldsMatch(t.id) {
		return false
	}
	for _, n := range t.denyNames {
		if p.name.match(n) {
			return true
		}
	}
	return false
}

func (p secretPattern) arnFieldsMatch(id secretid.ID) bool {
	return p.partition.match(id.Partition) && p.region.match(id.Region) && p.account.match(id.Account)
}

// Region match levels, for specificity.
const (
	regionAny     = 0
	regionPattern = 1
	regionExact   = 2
)

// regionMatch reports whether the rule covers region ("" for a request
// touching none, which every rule covers) and how specifically.
func (r *rule) regionMatch(region string) (int, bool) {
	if len(r.regions) == 0 || region == "" {
		return regionAny, true
	}
	best, ok := regionAny, false
	for _, g := range r.regions {
		if g.match(region) {
			ok = true
			if g.re == nil {
				return regionExact, true
			}
			best = regionPattern
		}
	}
	return best, ok
}

// String renders the explanation for the policy check CLI.
func (ex Explanation) String() string {
	var b strings.Builder
	verdict := "DENIED"
	if ex.Decision.Allowed {
		verdict = "ALLOWED"
	}
	fmt.Fprintf(&b, "%s: %s may", verdict, ex.Request.Principal)
	if ex.Decision.Allowed {
		b.WriteString(" ")
	} else {
		b.WriteString(" not ")
	}
	fmt.Fprintf(&b, "%s %s", ex.Request.Action, describeSecret(ex.Request.Secret))
	if len(ex.Request.Regions) > 0 {
		fmt.Fprintf(&b, " in %s", strings.Join(ex.Request.Regions, ", "))
	}
	if len(ex.Request.Groups) > 0 {
		fmt.Fprintf(&b, " (groups: %s)", strings.Join(ex.Request.Groups, ", "))
	}
	fmt.Fprintf(&b, "\n  decision: %s\n", ex.Decision.Reason)
	for _, re := range ex.Regions {
		name := re.Region
		if name == "" {
			name = "(no Region)"
		}
		outcome := "denied by default: no rule allows it"
		switch {
		case re.Allowed:
			outcome = fmt.Sprintf("allowed by %q", re.Rule)
		case re.Rule != "":
			outcome = fmt.Sprintf("denied by %q", re.Rule)
		}
		fmt.Fprintf(&b, "  %s: %s\n", name, outcome)
		for _, m := range re.Matched {
			fmt.Fprintf(&b, "    matched %s %q\n", m.Effect, m.Name)
		}
	}
	fmt.Fprintf(&b, "  policy sha256 %s\n", ex.Decision.Policy)
	return b.String()
}
