package access

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// glob is a compiled pattern: "*" matches any run of characters other than
// "/", "**" matches any run of characters including "/" (and the empty
// run). Every other character matches itself. Patterns compile to anchored
// RE2 expressions, so matching takes linear time whatever the pattern.
type glob struct {
	src      string
	re       *regexp.Regexp // nil for a pattern without wildcards
	literals int            // characters that are not wildcards: specificity
}

var errEmptyPattern = errors.New("empty pattern")

// compileGlob compiles src, whose characters must all satisfy allowed.
func compileGlob(src string, allowed func(rune) bool) (glob, error) {
	if src == "" {
		return glob{}, errEmptyPattern
	}
	if strings.TrimSpace(src) != src {
		return glob{}, fmt.Errorf("pattern %q: leading or trailing space", src)
	}
	if strings.Contains(src, "***") {
		return glob{}, fmt.Errorf("pattern %q: \"***\" is ambiguous; use \"*\" or \"**\"", src)
	}
	for _, r := range src {
		if r != '*' && !allowed(r) {
			return glob{}, fmt.Errorf("pattern %q: character %q not allowed", src, r)
		}
	}
	g := glob{src: src, literals: len(strings.ReplaceAll(src, "*", ""))}
	if !strings.Contains(src, "*") {
		return g, nil
	}
	var b strings.Builder
	b.WriteString(`^`)
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
	// (?s) so that "." also matches newlines; inputs are validated elsewhere,
	// but a wildcard should never fail to match because of one.
	g.re = regexp.MustCompile(`(?s)` + b.String())
	return g, nil
}

func (g glob) match(s string) bool {
	if g.re == nil {
		return g.src == s
	}
	return g.re.MatchString(s)
}

// matchesEverything reports whether g is "**".
func (g glob) matchesEverything() bool { return g.src == "**" }

// Character sets of the things patterns match. Principals and groups may
// hold spaces (a certificate CN, a directory group name), not control
// characters.
func isPrintable(r rune) bool { return r >= ' ' && r != 0x7f && !(r >= 0x80 && r < 0xa0) }

// Secret names: ASCII letters, digits and /_+=.@- (Secrets Manager's rule).
func isSecretNameChar(r rune) bool {
	return isAlnum(r) || strings.ContainsRune("/_+=.@-", r)
}

func isRegionChar(r rune) bool { return isLowerAlnum(r) || r == '-' }

func isAccountChar(r rune) bool { return '0' <= r && r <= '9' }

func isAlnum(r rune) bool { return isLowerAlnum(r) || ('A' <= r && r <= 'Z') }

func isLowerAlnum(r rune) bool { return ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') }

// secretPattern matches secrets by name, or by ARN.
//
// A name pattern ("prod/payments/*") matches the secret's name, which for a
// request by ARN is the ARN's resource with Secrets Manager's random suffix
// removed (see secretid): a secret is governed by the same rules however a
// caller spells it.
//
// An ARN pattern ("arn:aws:secretsmanager:*:123456789012:secret:prod/*")
// is matched field by field: partition, Region and account against the
// request's ARN, and the last field against the name, like a name pattern.
// A request by bare name has no ARN, so an ARN pattern in an allow rule
// never matches it; in a deny rule it matches on the name field alone
// (the secret might be in that account), so a deny cannot be side-stepped
// by leaving out the ARN.
type secretPattern struct {
	src                        string
	arn                        bool
	partition, region, account glob // ARN patterns only
	name                       glob
}

func compileSecretPattern(src string) (secretPattern, error) {
	if !strings.HasPrefix(src, "arn:") {
		g, err := compileGlob(src, isSecretNameChar)
		return secretPattern{src: src, name: g}, err
	}
	f := strings.Split(src, ":")
	if len(f) != 7 || f[2] != "secretsmanager" || f[5] != "secret" {
		return secretPattern{}, fmt.Errorf("pattern %q: an ARN pattern is arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME", src)
	}
	p := secretPattern{src: src, arn: true}
	var err error
	for _, c := range []struct {
		dst     *glob
		field   string
		allowed func(rune) bool
	}{
		{&p.partition, f[1], isRegionChar},
		{&p.region, f[3], isRegionChar},
		{&p.account, f[4], isAccountChar},
		{&p.name, f[6], isSecretNameChar},
	} {
		if *c.dst, err = compileGlob(c.field, c.allowed); err != nil {
			return secretPattern{}, fmt.Errorf("ARN %q: %w", src, err)
		}
	}
	return p, nil
}

// literals is the pattern's specificity: how many characters it pins.
func (p secretPattern) literals() int {
	if p.arn {
		return p.partition.literals + p.region.literals + p.account.literals + p.name.literals
	}
	return p.name.literals
}
