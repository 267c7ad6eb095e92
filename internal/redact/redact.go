// Package redact is replicad's one redaction point. What is sensitive is
// declared in the proto files — `debug_redact = true` for values sensitive as
// a whole (the free-text reason, label values), `(replicad.v1.redaction) =
// REDACTION_ARN_ACCOUNT` for ARNs whose account id is sensitive — and this
// package applies those declarations to any message with protoreflect, so
// the list of sensitive fields is never kept by hand.
//
// A sensitive value is replaced by a keyed fingerprint (HMAC-SHA256 with a
// configured key, shortened to 64 bits): two events about the same value can
// be correlated without revealing it, and without the key a fingerprint
// cannot be confirmed by guessing.
package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// MinKeyLength is the shortest fingerprint key accepted.
const MinKeyLength = 32

// Prefix starts every fingerprint, so readers know what they are looking at.
const Prefix = "fp-"

// Redactor fingerprints sensitive values. It is safe for concurrent use.
type Redactor struct {
	key   []byte
	rules sync.Map // protoreflect.FieldDescriptor -> rule
}

// New returns a Redactor fingerprinting with key.
func New(key []byte) (*Redactor, error) {
	if len(key) < MinKeyLength {
		return nil, errors.New("redact: fingerprint key must be at least 32 bytes")
	}
	return &Redactor{key: append([]byte(nil), key...)}, nil
}

// Fingerprint returns the keyed fingerprint of value: "fp-" and 16 hex digits.
func (r *Redactor) Fingerprint(value string) string {
	mac := hmac.New(sha256.New, r.key)
	mac.Write([]byte(value))
	return Prefix + hex.EncodeToString(mac.Sum(nil)[:8])
}

// arnAccountRE finds the account field of ARNs inside any text:
// arn:PARTITION:SERVICE:REGION:ACCOUNT[:RESOURCE]. Whatever follows the 12
// digits — a colon, the end of the text, a quote, a slash — they are the
// account: an ARN-like value cut short (arn:aws:secretsmanager:REGION:ACCOUNT)
// is refused by validation but is still recorded, so it must be redacted too.
var arnAccountRE = regexp.MustCompile(`(arn:[A-Za-z0-9-]*:[A-Za-z0-9-]*:[A-Za-z0-9-]*:)(\d{12})`)

// ARN replaces the account id of every ARN in s by its fingerprint. Values
// that hold no ARN (a KMS key id or alias) are returned unchanged.
func (r *Redactor) ARN(s string) string {
	if !strings.Contains(s, "arn:") {
		return s
	}
	return arnAccountRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := arnAccountRE.FindStringSubmatch(m)
		return sub[1] + r.Fingerprint(sub[2])
	})
}

type rule int

const (
	ruleNone rule = iota
	ruleWhole
	ruleARNAccount
)

func (r *Redactor) ruleFor(fd protoreflect.FieldDescriptor) rule {
	if v, ok := r.rules.Load(fd); ok {
		return v.(rule)
	}
	ru := ruleNone
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts != nil {
		switch {
		case opts.GetDebugRedact():
			ru = ruleWhole
		case proto.GetExtension(opts, replicadv1.E_Redaction).(replicadv1.Redaction) == replicadv1.Redaction_REDACTION_ARN_ACCOUNT:
			ru = ruleARNAccount
		}
	}
	r.rules.Store(fd, ru)
	return ru
}

// Message returns a redacted copy of m: every sensitive field replaced as
// its annotation says. m itself is not modified.
func (r *Redactor) Message(m proto.Message) proto.Message {
	if m == nil {
		return nil
	}
	c := proto.Clone(m)
	r.visit(c.ProtoReflect(), func(v string, ru rule) string {
		if ru == ruleWhole {
			return r.Fingerprint(v)
		}
		return r.ARN(v)
	}, true)
	return c
}

// Scrubber returns a Scrubber that removes every sensitive value found in
// the messages from free text, such as an AWS error message that echoes a
// request parameter back.
func (r *Redactor) Scrubber(msgs ...proto.Message) *Scrubber {
	s := &Scrubber{r: r}
	seen := map[string]bool{}
	for _, m := range msgs {
		if m == nil {
			continue
		}
		r.visit(m.ProtoReflect(), func(v string, ru rule) string {
			if ru == ruleWhole && len(v) >= minScrubLength && !seen[v] {
				seen[v] = true
				s.values = append(s.values, v)
			}
			return v
		}, false)
	}
	// Longest first, so a value containing another is replaced whole.
	sort.SliceStable(s.values, func(i, j int) bool { return len(s.values[i]) > len(s.values[j]) })
	return s
}

// minScrubLength: shorter values are too likely to occur by chance in an
// unrelated message, and too short to be secrets worth hiding.
const minScrubLength = 4

// Scrubber removes known sensitive values, and the account id of any ARN,
// from free text.
//
// Its cost is linear in the text and in the request: a value longer than
// the text cannot occur in it and costs nothing, and each other value is
// one substring search (linear in the text) and, only when found, one
// replacement. (strings.NewReplacer, used before, builds a Boyer-Moore
// table per pattern in time quadratic in the pattern's length: a refused
// request with a 150 KB reason cost seconds of CPU to scrub a 50-byte
// message.)
type Scrubber struct {
	r      *Redactor
	values []string // distinct sensitive values, longest first
}

// String returns s with sensitive values fingerprinted.
func (s *Scrubber) String(text string) string {
	if s == nil {
		return text
	}
	for _, v := range s.values {
		if len(v) <= len(text) && strings.Contains(text, v) {
			// A shorter value found later inside a fingerprint put in here
			// is replaced too: that spoils the fingerprint, never hides less.
			text = strings.ReplaceAll(text, v, s.r.Fingerprint(v))
		}
	}
	return s.r.ARN(text)
}

// Text removes ARN account ids from free text when no request is at hand.
func (r *Redactor) Text(s string) string { return r.ARN(s) }

// visit calls f on every sensitive string in m, at any depth; with set, it
// replaces each by what f returns (m must then be the caller's own copy).
func (r *Redactor) visit(m protoreflect.Message, f func(string, rule) string, set bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		ru := r.ruleFor(fd)
		switch {
		case fd.IsMap():
			mp := v.Map()
			valDesc := fd.MapValue()
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				switch {
				case valDesc.Kind() == protoreflect.MessageKind:
					r.visit(mv.Message(), f, set)
				case ru != ruleNone && valDesc.Kind() == protoreflect.StringKind:
					if out := f(mv.String(), ru); set {
						mp.Set(k, protoreflect.ValueOfString(out))
					}
				case ru != ruleNone && valDesc.Kind() == protoreflect.BytesKind:
					if out := f(string(mv.Bytes()), ruleWhole); set {
						mp.Set(k, protoreflect.ValueOfBytes([]byte(out)))
					}
				}
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				switch {
				case fd.Kind() == protoreflect.MessageKind:
					r.visit(l.Get(i).Message(), f, set)
				case ru != ruleNone && fd.Kind() == protoreflect.StringKind:
					if out := f(l.Get(i).String(), ru); set {
						l.Set(i, protoreflect.ValueOfString(out))
					}
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			r.visit(v.Message(), f, set)
		case ru != ruleNone && fd.Kind() == protoreflect.StringKind:
			if out := f(v.String(), ru); set {
				m.Set(fd, protoreflect.ValueOfString(out))
			}
		case ru != ruleNone && fd.Kind() == protoreflect.BytesKind:
			if out := f(string(v.Bytes()), ruleWhole); set {
				m.Set(fd, protoreflect.ValueOfBytes([]byte(out)))
			}
		}
		return true
	})
}
