package access

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Actions a rule can name, besides "*" (all of them).
const (
	ActionReplicate        = "replicate"
	ActionRemove           = "remove"
	ActionPromote          = "promote"
	ActionStatus           = "status"
	ActionOperationsRead   = "operations.read"
	ActionOperationsCancel = "operations.cancel"
	ActionAuditRead        = "audit.read"
	// Fleet replication policies. A policy governs a whole fleet, so these
	// are asked with no secret (only rules whose secrets include "**"
	// allow them) and with the policy's desired Regions: policies.write
	// creates, updates and deletes policies; policies.prune is needed as
	// well for a policy that removes replicas (prune, or recreation on a
	// key change); policies.read reads policies, plans and status.
	ActionPoliciesRead  = "policies.read"
	ActionPoliciesWrite = "policies.write"
	ActionPoliciesPrune = "policies.prune"
	// ActionFailover moves secrets' primaries to another Region (issue 15).
	ActionFailover = "failover"
	// ActionFailback brings them back to a Region that returned.
	ActionFailback = "failback"
	// ActionInventoryRead reads the inventory (ListSecrets, GetSecret),
	// decided per secret ARN.
	ActionInventoryRead = "inventory.read"
)

// Actions returns every action name, for CLIs and documentation.
func Actions() []string {
	return []string{ActionReplicate, ActionRemove, ActionPromote, ActionStatus,
		ActionOperationsRead, ActionOperationsCancel, ActionOperationsApprove, ActionAuditRead,
		ActionPoliciesRead, ActionPoliciesWrite, ActionPoliciesPrune, ActionFailover, ActionFailback, ActionInventoryRead}
}

func isAction(a string) bool {
	switch a {
	case ActionReplicate, ActionRemove, ActionPromote, ActionStatus,
		ActionOperationsRead, ActionOperationsCancel, ActionOperationsApprove, ActionAuditRead,
		ActionPoliciesRead, ActionPoliciesWrite, ActionPoliciesPrune, ActionFailover, ActionFailback, ActionInventoryRead:
		return true
	}
	return false
}

// FormatVersion is the only policy file version this package reads.
const FormatVersion = 1

// Rule effects.
const (
	EffectAllow = "allow"
	EffectDeny  = "deny"
)

// maxRuleNameLength keeps rule names fit for logs and audit records.
const maxRuleNameLength = 128

// file and fileRule are the YAML document, decoded with unknown fields
// refused: a misspelt "secrest:" must be an error, not a rule that quietly
// matches differently than its author thinks.
type file struct {
	Version int `yaml:"version"`
	// Pointers, because yaml.v3 silently drops null items ("- ~", or a
	// bare "-") from a slice of structs; a null rule must be reported.
	Rules []*fileRule `yaml:"rules"`
	// Approvals name operations that need a second person (approval.go).
	Approvals []*fileApproval `yaml:"approvals"`
}

type fileRule struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Effect      string   `yaml:"effect"`
	Principals  []string `yaml:"principals"`
	Groups      []string `yaml:"groups"`
	Actions     []string `yaml:"actions"`
	Secrets     []string `yaml:"secrets"`
	Regions     []string `yaml:"regions"`
}

func (r *fileRule) empty() bool {
	return r == nil || r.Name == "" && r.Description == "" && r.Effect == "" && len(r.Principals) == 0 &&
		len(r.Groups) == 0 && len(r.Actions) == 0 && len(r.Secrets) == 0 && len(r.Regions) == 0
}

// Load reads and parses a policy file.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse parses and validates a policy document. Every problem found is
// reported, each rule problem as a *RuleError; all wrap ErrInvalidPolicy.
func Parse(data []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty document", ErrInvalidPolicy)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrInvalidPolicy)
	}
	if f.Version != FormatVersion {
		return nil, fmt.Errorf("%w: version is %d, want %d", ErrInvalidPolicy, f.Version, FormatVersion)
	}
	if f.Rules == nil {
		// "rules: []" is a deliberate deny-all; a missing list is a mistake.
		return nil, fmt.Errorf("%w: no rules list", ErrInvalidPolicy)
	}

	sum := sha256.Sum256(data)
	p := &Policy{digest: hex.EncodeToString(sum[:])}
	var errs []error
	seen := make(map[string]int)
	for i, fr := range f.Rules {
		r, ruleErrs := compileRule(i+1, fr)
		if fr != nil && fr.Name != "" {
			if first, dup := seen[fr.Name]; dup {
				ruleErrs = append(ruleErrs, &RuleError{Index: i + 1, Rule: fr.Name, Field: "name",
					Err: fmt.Errorf("duplicate name, already used by rule #%d", first)})
			} else {
				seen[fr.Name] = i + 1
			}
		}
		errs = append(errs, ruleErrs...)
		p.rules = append(p.rules, r)
	}
	for i, fa := range f.Approvals {
		a, approvalErrs := compileApproval(i+1, fa)
		errs = append(errs, approvalErrs...)
		p.approvals = append(p.approvals, a)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, errors.Join(errs...))
	}
	return p, nil
}

// compileRule validates one rule, returning every problem found.
func compileRule(index int, fr *fileRule) (*rule, []error) {
	if fr.empty() {
		return nil, []error{&RuleError{Index: index, Err: errors.New("empty rule")}}
	}
	var errs []error
	fail := func(field string, err error) {
		errs = append(errs, &RuleError{Index: index, Rule: fr.Name, Field: field, Err: err})
	}
	r := &rule{index: index, name: fr.Name}

	switch {
	case fr.Name == "":
		fail("name", errors.New("required"))
	case len(fr.Name) > maxRuleNameLength:
		fail("name", fmt.Errorf("longer than %d characters", maxRuleNameLength))
	case strings.IndexFunc(fr.Name, func(c rune) bool { return !isAlnum(c) && !strings.ContainsRune("._-", c) }) >= 0:
		fail("name", errors.New("may hold only ASCII letters, digits, '.', '_' and '-'"))
	}

	switch fr.Effect {
	case EffectAllow:
	case EffectDeny:
		r.deny = true
	case "":
		fail("effect", errors.New("required (allow or deny)"))
	default:
		fail("effect", fmt.Errorf("%q is neither allow nor deny", fr.Effect))
	}

	if len(fr.Principals) == 0 && len(fr.Groups) == 0 {
		fail("principals", errors.New("a rule needs principals or groups (use \"**\" for every caller)"))
	}
	for _, src := range fr.Principals {
		g, err := compileGlob(src, isPrintable)
		if err != nil {
			fail("principals", err)
			continue
		}
		r.principals = append(r.principals, g)
	}
	for _, src := range fr.Groups {
		g, err := compileGlob(src, isPrintable)
		if err != nil {
			fail("groups", err)
			continue
		}
		r.groups = append(r.groups, g)
	}

	if len(fr.Actions) == 0 {
		fail("actions", errors.New("required (an action name, or \"*\")"))
	}
	for _, a := range fr.Actions {
		switch {
		case a == "*":
			r.allActions = true
		case isAction(a):
			r.actions = append(r.actions, a)
		default:
			fail("actions", fmt.Errorf("unknown action %q (known: %s, *)", a, strings.Join(Actions(), ", ")))
		}
	}

	if len(fr.Secrets) == 0 {
		fail("secrets", errors.New("required (use \"**\" for every secret)"))
	}
	for _, src := range fr.Secrets {
		sp, err := compileSecretPattern(src)
		if err != nil {
			fail("secrets", err)
			continue
		}
		r.secrets = append(r.secrets, sp)
	}

	for _, src := range fr.Regions {
		g, err := compileGlob(src, isRegionChar)
		if err != nil {
			fail("regions", err)
			continue
		}
		r.regions = append(r.regions, g)
	}
	return r, errs
}
