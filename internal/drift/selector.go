package drift

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/replicad/replicad/internal/domain"
)

// Glob is a compiled secret-name pattern: "*" matches any run of
// characters other than "/", "**" any run including "/". Every other
// character matches itself. Globs compile to anchored RE2 expressions, so
// matching is linear in the name whatever the pattern.
type Glob struct {
	src string
	re  *regexp.Regexp
}

// CompileGlob compiles a name glob.
func CompileGlob(src string) (Glob, error) {
	switch {
	case src == "":
		return Glob{}, errors.New("empty pattern")
	case strings.Contains(src, "***"):
		return Glob{}, fmt.Errorf("%q is ambiguous; use \"*\" or \"**\"", "***")
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for rest := src; rest != ""; {
		switch {
		case strings.HasPrefix(rest, "**"):
			b.WriteString(`.*`)
			rest = rest[2:]
		case rest[0] == '*':
			b.WriteString(`[^/]*`)
			rest = rest[1:]
		default:
			n := strings.IndexByte(rest, '*')
			if n < 0 {
				n = len(rest)
			}
			b.WriteString(regexp.QuoteMeta(rest[:n]))
			rest = rest[n:]
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return Glob{}, fmt.Errorf("compile pattern: %w", err)
	}
	return Glob{src: src, re: re}, nil
}

// Match reports whether name matches the glob.
func (g Glob) Match(name string) bool { return g.re != nil && g.re.MatchString(name) }

// String is the glob as written.
func (g Glob) String() string { return g.src }

// Selector is a compiled domain.PolicySelector.
type Selector struct {
	sel              domain.PolicySelector
	include, exclude []Glob
}

// CompileSelector compiles s; globs must have been validated.
func CompileSelector(s domain.PolicySelector) (Selector, error) {
	out := Selector{sel: s}
	for _, src := range s.NameGlobs {
		g, err := CompileGlob(src)
		if err != nil {
			return Selector{}, err
		}
		out.include = append(out.include, g)
	}
	for _, src := range s.ExcludeNameGlobs {
		g, err := CompileGlob(src)
		if err != nil {
			return Selector{}, err
		}
		out.exclude = append(out.exclude, g)
	}
	return out, nil
}

// Globs are the compiled include globs, in order.
func (s Selector) Globs() []Glob { return s.include }

// Matches reports whether the selector selects sec. The selector's primary
// Regions do not select: they are what a selected secret's primary is
// expected to be (KindUnexpectedPrimary otherwise).
func (s Selector) Matches(sec domain.InventorySecret) bool {
	if len(s.sel.Accounts) > 0 && !slices.Contains(s.sel.Accounts, sec.Account) {
		return false
	}
	for k, v := range s.sel.Tags {
		if got, ok := sec.Tags[k]; !ok || got != v {
			return false
		}
	}
	if len(s.include) > 0 && !slices.ContainsFunc(s.include, func(g Glob) bool { return g.Match(sec.Name) }) {
		return false
	}
	return !slices.ContainsFunc(s.exclude, func(g Glob) bool { return g.Match(sec.Name) })
}

// DesiredOf is what a policy wants of each secret it selects.
func DesiredOf(p domain.Policy) Desired {
	d := Desired{Replicas: map[string]string{}, PrimaryRegions: p.Selector.PrimaryRegions}
	for _, r := range p.Replicas {
		d.Replicas[r.Region] = r.KMSKeyID
	}
	return d
}

// BehaviourOf is the part of a policy that decides which drift is fixed.
func BehaviourOf(p domain.Policy) Behaviour {
	return Behaviour{RetryFailed: p.RetryFailed, Prune: p.Prune, RecreateOnKMS: p.RecreateOnKMSChange}
}

// SameDesires reports whether two policies want the same of a secret they
// both select: the same Regions with the same keys, and the same view of
// Regions they do not list (prune). Only then may they overlap.
func SameDesires(a, b domain.Policy) bool {
	da, db := DesiredOf(a), DesiredOf(b)
	if len(da.Replicas) != len(db.Replicas) || a.Prune != b.Prune {
		return false
	}
	for r, k := range da.Replicas {
		if kb, ok := db.Replicas[r]; !ok || !sameKey(k, kb) {
			return false
		}
	}
	return true
}

// Op is one operation reconciliation would create for a secret.
type Op struct {
	Kind     domain.Kind
	Replicas []domain.ReplicaParam
	Force    bool
}

// Plan turns a secret's drift into the operations that fix what the policy
// allows, in the order they must run: a Remove (pruned Regions, and
// replicas recreated for a new key) before the Replicate (missing, retried
// Failed and recreated Regions). It also reports whether some drift is left
// unfixed by the policy.
func Plan(p domain.Policy, drifts []Drift) (ops []Op, unfixed bool) {
	want := DesiredOf(p)
	b := BehaviourOf(p)
	var remove, add []domain.ReplicaParam
	force := false
	for _, d := range drifts {
		switch FixFor(b, d) {
		case FixReplicate:
			add = append(add, domain.ReplicaParam{Region: d.Region, KMSKeyID: want.Replicas[d.Region]})
			if d.Kind == KindFailedReplica && p.ForceOverwrite {
				force = true
			}
		case FixRemove:
			remove = append(remove, domain.ReplicaParam{Region: d.Region})
		case FixRecreate:
			remove = append(remove, domain.ReplicaParam{Region: d.Region})
			add = append(add, domain.ReplicaParam{Region: d.Region, KMSKeyID: want.Replicas[d.Region]})
		default:
			unfixed = true
		}
	}
	if len(remove) > 0 {
		ops = append(ops, Op{Kind: domain.KindRemove, Replicas: remove})
	}
	if len(add) > 0 {
		ops = append(ops, Op{Kind: domain.KindReplicate, Replicas: add, Force: force})
	}
	return ops, unfixed
}
