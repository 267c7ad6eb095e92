package access

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/replicad/replicad/internal/secretid"
)

// ApprovalExpiryDefault is how long an operation waits for its approval
// when an approval rule names no expires_after.
const ApprovalExpiryDefault = time.Hour

// maxApprovalExpiry bounds expires_after: an approval request is a
// decision pending, not a standing order.
const maxApprovalExpiry = 7 * 24 * time.Hour

// ActionOperationsApprove is what ApproveOperation is authorised as. Being
// allowed it is not enough: the approver must also be in one of the
// approval rule's approver groups, and not be the requester.
const ActionOperationsApprove = "operations.approve"

// fileApproval is one entry of the policy's approvals list.
type fileApproval struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Actions     []string `yaml:"actions"`
	Secrets     []string `yaml:"secrets"`
	Approvers   []string `yaml:"approvers"`
	// ExpiresAfter is a Go duration ("30m", "2h").
	ExpiresAfter string `yaml:"expires_after"`
	// BreakGlassSHA256 are hex SHA-256 digests of break-glass tokens: a
	// request presenting one is released at once, loudly audited. The
	// policy holds digests only, so the file reveals no token.
	BreakGlassSHA256 []string `yaml:"break_glass_sha256"`
}

// approvalRule is a compiled approvals entry.
type approvalRule struct {
	name       string
	actions    []string // operation kinds: promote, failover, failback, prune...
	secrets    []secretPattern
	approvers  []string
	expiry     time.Duration
	breakGlass [][sha256.Size]byte
}

// Approval is what an operation needs before it may run: the rule that
// asked for it, who may approve, and for how long the request stands.
type Approval struct {
	// Rule names the approvals entry.
	Rule string
	// Approvers are the groups whose members may approve (exact names).
	Approvers []string
	// ExpiresAfter is how long the operation waits for an approval.
	ExpiresAfter time.Duration

	breakGlass [][sha256.Size]byte
}

// BreakGlass reports whether token is one of the rule's break-glass
// tokens. The comparison takes the same time whichever digest matches.
func (a Approval) BreakGlass(token string) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for _, d := range a.breakGlass {
		ok |= subtle.ConstantTimeCompare(sum[:], d[:])
	}
	return ok == 1
}

// MayApprove reports whether a member of groups is one of the approvers.
func (a Approval) MayApprove(groups []string) bool {
	for _, g := range groups {
		if slices.Contains(a.Approvers, g) {
			return true
		}
	}
	return false
}

// ApprovalFor reports whether action on secret needs a second person's
// approval, and whose. The first matching approvals entry decides. secret
// "" (an operation about many secrets) matches entries for "**" only.
// Action names are free (any operation kind), so a new kind of operation
// can require approval without this package changing.
func (p *Policy) ApprovalFor(action, secret string) (Approval, bool) {
	t := target{all: secret == ""}
	if !t.all {
		id, err := secretid.Parse(secret)
		if err != nil {
			return Approval{}, false
		}
		t.id = id
	}
	for _, r := range p.approvals {
		if !slices.Contains(r.actions, action) {
			continue
		}
		for _, sp := range r.secrets {
			if sp.matchAllow(t) {
				return Approval{Rule: r.name, Approvers: r.approvers, ExpiresAfter: r.expiry, breakGlass: r.breakGlass}, true
			}
		}
	}
	return Approval{}, false
}

// ApprovalFor answers with the policy in force (see Policy.ApprovalFor).
func (s *Store) ApprovalFor(action, secret string) (Approval, bool) {
	return s.current.Load().ApprovalFor(action, secret)
}

func compileApproval(index int, fa *fileApproval) (*approvalRule, []error) {
	var errs []error
	if fa == nil {
		return nil, []error{&RuleError{Index: index, Err: errors.New("empty approval")}}
	}
	fail := func(field string, err error) {
		errs = append(errs, &RuleError{Index: index, Rule: fa.Name, Field: "approvals." + field, Err: err})
	}
	r := &approvalRule{name: fa.Name, expiry: ApprovalExpiryDefault}
	if fa.Name == "" {
		fail("name", errors.New("required"))
	}
	if len(fa.Actions) == 0 {
		fail("actions", errors.New("required (operation kinds such as promote, failover, failback)"))
	}
	for _, a := range fa.Actions {
		if a == "" || strings.IndexFunc(a, func(c rune) bool { return !isLowerAlnum(c) && !strings.ContainsRune("._-", c) }) >= 0 {
			fail("actions", fmt.Errorf("%q is not an action name", a))
			continue
		}
		r.actions = append(r.actions, a)
	}
	if len(fa.Secrets) == 0 {
		fail("secrets", errors.New("required (use \"**\" for every secret)"))
	}
	for _, src := range fa.Secrets {
		sp, err := compileSecretPattern(src)
		if err != nil {
			fail("secrets", err)
			continue
		}
		r.secrets = append(r.secrets, sp)
	}
	if len(fa.Approvers) == 0 {
		fail("approvers", errors.New("required: the groups whose members may approve"))
	}
	for _, g := range fa.Approvers {
		if g == "" || strings.ContainsRune(g, '*') || strings.IndexFunc(g, func(c rune) bool { return !isPrintable(c) }) >= 0 {
			fail("approvers", fmt.Errorf("%q is not a group name (exact names only)", g))
			continue
		}
		r.approvers = append(r.approvers, g)
	}
	if fa.ExpiresAfter != "" {
		d, err := time.ParseDuration(fa.ExpiresAfter)
		switch {
		case err != nil:
			fail("expires_after", errors.New("not a duration (e.g. 30m, 2h)"))
		case d <= 0 || d > maxApprovalExpiry:
			fail("expires_after", fmt.Errorf("must be positive and at most %s", maxApprovalExpiry))
		default:
			r.expiry = d
		}
	}
	for _, h := range fa.BreakGlassSHA256 {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			// Never echo the value: it might be a token pasted by mistake.
			fail("break_glass_sha256", errors.New("each entry must be 64 hex digits (sha256sum of the token)"))
			continue
		}
		r.breakGlass = append(r.breakGlass, [sha256.Size]byte(b))
	}
	return r, errs
}
