package access

import (
	"errors"
	"fmt"
)

// ErrInvalidPolicy is wrapped by every error from Parse, Load, NewStore and
// Reload about the file's contents (as opposed to reading it).
var ErrInvalidPolicy = errors.New("invalid policy")

// ErrPermissionDenied is matched (errors.Is) by the error Decision.Err
// returns for a refused request.
var ErrPermissionDenied = errors.New("permission denied")

// RuleError is a problem with one rule of a policy file. Parse joins one per
// problem (errors.Join), so a file's author sees them all at once; errors.As
// finds the first.
type RuleError struct {
	// Index is the rule's position in the file, from 1.
	Index int
	// Rule is the rule's name, "" if it has none.
	Rule string
	// Field is the YAML field at fault ("effect", "secrets", ...), "" for
	// the rule as a whole.
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	who := fmt.Sprintf("rule #%d", e.Index)
	if e.Rule != "" {
		who = fmt.Sprintf("rule %q (#%d)", e.Rule, e.Index)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", who, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", who, e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// DeniedError is what to tell a refused caller: the request as they sent
// it, and the Region refused, never the policy's rules or their names.
type DeniedError struct {
	Action string
	// Secret is as the caller gave it; "" for a request about all secrets.
	Secret string
	// Region is the refused target Region; "" when the refusal is not about
	// one Region.
	Region string
}

// Error reads "permission denied: replicate on prod/db in ap-south-1".
func (e *DeniedError) Error() string {
	msg := "permission denied: " + e.Action
	if e.Secret != "" {
		msg += " on " + e.Secret
	} else {
		msg += " on all secrets"
	}
	if e.Region != "" {
		msg += " in " + e.Region
	}
	return msg
}

// Is makes errors.Is(err, ErrPermissionDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrPermissionDenied }
