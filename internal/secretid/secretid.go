// Package secretid parses the ways a caller can name a Secrets Manager
// secret (a name, or a full ARN) and derives what replicad needs from them:
// the Region an ARN pins, and the serialisation key under which operations on
// one secret queue behind each other.
package secretid

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MaxLength is SecretId's maximum length in the Secrets Manager API.
const MaxLength = 2048

// MaxNameLength is the maximum length of a secret name.
const MaxNameLength = 512

var (
	// Secret names: ASCII letters, digits and /_+=.@- (CreateSecret's rule).
	nameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)
	// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX
	arnRE = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]):secretsmanager:([a-z0-9-]+):(\d{12}):secret:([A-Za-z0-9/_+=.@-]+)$`)
	// Secrets Manager appends "-" and six random characters to the name.
	suffixRE = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid secret id")

// ID is a parsed secret id.
type ID struct {
	// Raw is the id as given.
	Raw string
	// Name is the secret's name: Raw itself, or an ARN's resource with the
	// random suffix removed.
	Name string
	// ARN fields, empty for a bare name.
	Partition, Region, Account string
}

// IsARN reports whether the id was a full ARN.
func (id ID) IsARN() bool { return id.Account != "" }

// Key is the serialisation key: operations with the same key run one at a
// time. It is the name, so "prod/db" and the ARN of prod/db share a queue;
// two secrets with one name in different accounts or Regions share one too,
// which only costs parallelism, never correctness.
func (id ID) Key() string { return id.Name }

// Parse parses a secret name or ARN.
func Parse(s string) (ID, error) {
	switch {
	case s == "":
		return ID{}, fmt.Errorf("%w: empty", ErrInvalid)
	case len(s) > MaxLength:
		return ID{}, fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxLength)
	case strings.HasPrefix(s, "arn:"):
		m := arnRE.FindStringSubmatch(s)
		if m == nil {
			return ID{}, fmt.Errorf("%w: not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-abcdef)", ErrInvalid)
		}
		name := m[4]
		if loc := suffixRE.FindStringIndex(name); loc != nil && loc[0] > 0 {
			name = name[:loc[0]]
		}
		return ID{Raw: s, Name: name, Partition: m[1], Region: m[2], Account: m[3]}, nil
	case len(s) > MaxNameLength:
		return ID{}, fmt.Errorf("%w: a secret name is at most %d characters", ErrInvalid, MaxNameLength)
	case !nameRE.MatchString(s):
		return ID{}, fmt.Errorf("%w: a secret name may hold only ASCII letters, digits and /_+=.@-", ErrInvalid)
	}
	return ID{Raw: s, Name: s}, nil
}
