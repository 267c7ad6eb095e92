// Package validate checks requests at the API boundary against the limits
// of the Secrets Manager API (see shared/seeds) and the server's
// configuration, and says what is wrong with every bad field at once, so a
// caller fixes a request in one round trip. It never echoes a field's value
// in its messages: values can be sensitive, messages are logged.
package validate

import (
	"fmt"
	"regexp"
	"strings"
)

// Limits beyond what the seeds state, chosen to keep requests and stored rows
// bounded.
const (
	MaxRegions       = 50
	MaxKMSKeyLength  = 2048
	MaxReasonLength  = 1024
	MaxLabels        = 16
	MaxLabelValue    = 256
	MaxRecentOps     = 50
	MaxPageSize      = 1000
	DefaultRecentOps = 10
	DefaultPageSize  = 50
)

// Violation is one bad field (google.rpc.BadRequest.FieldViolation).
type Violation struct {
	// Field is the path to the field, e.g. "regions[1].kms_key_id".
	Field string
	// Reason is a stable UPPER_SNAKE_CASE code.
	Reason string
	// Description says what is wrong, without repeating the value.
	Description string
}

// Error carries every violation found in a request.
type Error struct {
	Violations []Violation
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Description
		if v.Field != "" {
			parts[i] = v.Field + ": " + v.Description
		}
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

type collector struct{ vs []Violation }

func (c *collector) add(field, reason, format string, args ...any) {
	c.vs = append(c.vs, Violation{Field: field, Reason: reason, Description: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.vs) == 0 {
		return nil
	}
	return &Error{Violations: c.vs}
}

var (
	// Region codes: us-east-1, eu-west-3, us-gov-west-1, cn-north-1,
	// ap-southeast-5, us-isob-east-1...
	regionRE = regexp.MustCompile(`^[a-z]{2}(-(gov|iso[a-z]?))?-[a-z]+-[0-9]{1,2}$`)
	// KMS key ids: a UUID or a multi-Region key id.
	kmsKeyIDRE = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})$`)
	aliasRE    = regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`)
	kmsARNRE   = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]):kms:([a-z0-9-]+):(\d{12}):(key/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})|alias/[A-Za-z0-9/_-]{1,250})$`)
	labelKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,62}$`)
)

// Partition returns the AWS partition a Region belongs to. Secrets replicate
// only within a partition (the user guide: GovCloud and China Regions are
// isolated from the commercial ones).
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	default:
		return "aws"
	}
}

// WellFormedRegion reports whether s looks like a Region code.
func WellFormedRegion(s string) bool { return regionRE.MatchString(s) }

// IsUUID reports whether s is a UUID in canonical text form.
//
// A loop rather than a regular expression: every audited RPC asks (the
// operation id of its event), and the regexp was a percent of a
// GetOperation's CPU.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
