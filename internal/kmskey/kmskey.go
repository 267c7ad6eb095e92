// Package kmskey compares the KMS key references Secrets Manager accepts
// and reports — a key id, alias/NAME, a key ARN or an alias ARN, or nothing
// for the AWS managed key aws/secretsmanager — without calling KMS.
//
// Two references can name the same key in forms that only KMS could relate
// (an alias and the key it points to, two aliases of one key). replicad does
// not call KMS, so it answers two narrower questions instead: are two
// references provably the same key (Same), and are they provably different
// keys (Different)? Neither is the negation of the other; when a reference
// pair is in neither, the caller must choose the safe side for its purpose.
//
// The readings taken where AWS documents nothing:
//
//   - An omitted key, "alias/aws/secretsmanager" and "aws/secretsmanager"
//     all mean the AWS managed key of Secrets Manager. DescribeSecret omits
//     KmsKeyId for it; ReplicationStatus reports it as the alias (as the
//     stand-in does and moto does).
//   - A bare key id or alias in a ReplicateSecretToRegions request is
//     resolved in the replica's Region, in the secret's own account, so it
//     equals an ARN naming that Region and account, and nothing else.
//   - Key ids and alias names compare exactly (case included): KMS prints
//     key ids in lower case and alias names are case sensitive, so only an
//     exact match is proof.
//   - Aliases under alias/aws/ belong to AWS managed keys, and a customer's
//     alias can point only to a customer managed key (CreateAlias and
//     UpdateAlias take a customer managed key), so an alias/aws/ alias and a
//     customer alias are different keys, as are two different alias/aws/
//     aliases (one per AWS service).
package kmskey

import (
	"regexp"
	"strings"
)

// Managed is how ReplicationStatus names the AWS managed key that an
// omitted KmsKeyId means.
const Managed = "alias/aws/secretsmanager"

// Display is how a reference is shown to a user: the AWS managed key by its
// alias rather than as nothing. It does not redact: an ARN keeps its
// account, which callers fingerprint before showing it.
func Display(ref string) string {
	if ref == "" {
		return Managed
	}
	return ref
}

type kind int

const (
	kindUnknown kind = iota
	kindKeyID
	kindAlias
)

type ref struct {
	kind kind
	// name is the key id, or the alias without its "alias/" prefix.
	name string
	// region and account come from an ARN; empty for a bare reference.
	region, account, partition string
}

var (
	keyIDRE = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})$`)
	arnRE   = regexp.MustCompile(`^arn:([a-z0-9-]+):kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)$`)
)

func parse(s string) ref {
	switch s {
	case "", "aws/secretsmanager":
		s = Managed
	}
	if m := arnRE.FindStringSubmatch(s); m != nil {
		r := ref{name: m[5], partition: m[1], region: m[2], account: m[3], kind: kindAlias}
		if m[4] == "key" {
			r.kind = kindKeyID
		}
		return r
	}
	if name, ok := strings.CutPrefix(s, "alias/"); ok && name != "" {
		return ref{kind: kindAlias, name: name}
	}
	if keyIDRE.MatchString(s) {
		return ref{kind: kindKeyID, name: s}
	}
	return ref{name: s}
}

// placed reports whether r, resolved for a replica in region of a secret in
// account, is in that Region and account: always for a bare reference, and
// for an ARN when it names both.
func (r ref) placed(region, account string) bool {
	if r.region == "" {
		return true
	}
	return r.region == region && account != "" && r.account == account
}

// Same reports whether a and b provably name the same KMS key for a replica
// in region of a secret in account (account may be empty when unknown; an
// ARN then proves nothing beyond its own text).
func Same(a, b, region, account string) bool {
	if a == b || (Display(a) == Display(b)) {
		return true
	}
	ra, rb := parse(a), parse(b)
	if ra.kind == kindUnknown || ra.kind != rb.kind || ra.name != rb.name {
		return false
	}
	if ra.region != "" && rb.region != "" {
		return ra.region == rb.region && ra.account == rb.account && ra.partition == rb.partition
	}
	return ra.placed(region, account) && rb.placed(region, account)
}

// Different reports whether a and b provably name different KMS keys for a
// replica in region of a secret in account.
func Different(a, b, region, account string) bool {
	if Same(a, b, region, account) {
		return false
	}
	ra, rb := parse(a), parse(b)
	if ra.kind == kindUnknown || rb.kind == kindUnknown {
		return false
	}
	// Two ARNs in different Regions or accounts are different keys (a
	// multi-Region key's replicas share an id but are keys of their own).
	if ra.region != "" && rb.region != "" && (ra.region != rb.region || ra.account != rb.account) {
		return true
	}
	// An ARN elsewhere than where a bare reference resolves.
	for _, p := range [][2]ref{{ra, rb}, {rb, ra}} {
		if arn, bare := p[0], p[1]; arn.region != "" && bare.region == "" &&
			(arn.region != region || (account != "" && arn.account != account)) {
			return true
		}
	}
	switch {
	case ra.kind == kindKeyID && rb.kind == kindKeyID:
		// A key id names one key in its Region and account; ids differing
		// only in case are not taken as proof.
		return !strings.EqualFold(ra.name, rb.name)
	case ra.kind == kindAlias && rb.kind == kindAlias:
		am, bm := strings.HasPrefix(ra.name, "aws/"), strings.HasPrefix(rb.name, "aws/")
		// A customer alias never points to an AWS managed key, and each
		// AWS managed key has its own alias/aws/ alias. Two customer
		// aliases may point to one key.
		return am != bm || (am && bm && ra.name != rb.name)
	}
	// An alias and a key id: only KMS knows what the alias points to.
	return false
}
