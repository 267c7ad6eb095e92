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
	r.walk(c.ProtoReflect(), func(v string, ru rule) string {
		if ru == ruleWhole {
			return r.Fingerprint(v)
		}
		return r.ARN(v)
	})
	return c
}

// Scrubber returns a Scrubber that removes every sensitive value found in
// the messages from free text, such as an AWS error message that echoes a
// request parameter back.
func (r *Redactor) Scrubber(msgs ...proto.Message) *Scrubber {
	s := &Scrubber{r: r}
	var pairs []string
	for _, m := range msgs {
		if m == nil {
			continue
		}
		r.walk(proto.Clone(m).ProtoReflect(), func(v string, ru rule) string {
			if ru == ruleWhole && len(v) >= minScrubLength {
				pairs = append(pairs, v, r.Fingerprint(v))
			}
			return v
		})
	}
	// Longest first, so a value containing another is replaced whole.
	sortPairs(pairs)
	s.replacer = strings.NewReplacer(pairs...)
	return s
}

// minScrubLength: shorter values are too likely to occur by chance in an
// unrelated message, and too short to be secrets worth hiding.
const minScrubLength = 4

// Scrubber removes known sensitive values, and the account id of any ARN,
// from free text.
type Scrubber struct {
	r        *Redactor
	replacer *strings.Replacer
}

// String returns s with sensitive values fingerprinted.
func (s *Scrubber) String(text string) string {
	if s == nil {
		return text
	}
	return s.r.ARN(s.replacer.Replace(text))
}

// Text removes ARN account ids from free text when no request is at hand.
func (r *Redactor) Text(s string) string { return r.ARN(s) }

func (r *Redactor) walk(m protoreflect.Message, f func(string, rule) string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		ru := r.ruleFor(fd)
		switch {
		case fd.IsMap():
			mp := v.Map()
			valDesc := fd.MapValue()
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				switch {
				case valDesc.Kind() == protoreflect.MessageKind:
					r.walk(mv.Message(), f)
				case ru != ruleNone && valDesc.Kind() == protoreflect.StringKind:
					mp.Set(k, protoreflect.ValueOfString(f(mv.String(), ru)))
				case ru != ruleNone && valDesc.Kind() == protoreflect.BytesKind:
					mp.Set(k, protoreflect.ValueOfBytes([]byte(f(string(mv.Bytes()), ruleWhole))))
				}
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				switch {
				case fd.Kind() == protoreflect.MessageKind:
					r.walk(l.Get(i).Message(), f)
				case ru != ruleNone && fd.Kind() == protoreflect.StringKind:
					l.Set(i, protoreflect.ValueOfString(f(l.Get(i).String(), ru)))
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			r.walk(v.Message(), f)
		case ru != ruleNone && fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(f(v.String(), ru)))
		case ru != ruleNone && fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte(f(string(v.Bytes()), ruleWhole))))
		}
		return true
	})
}

func sortPairs(pairs []string) {
	type pair struct{ old, new string }
	ps := make([]pair, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	sort.Slice(ps, func(i, j int) bool { return len(ps[i].old) > len(ps[j].old) })
	for i, p := range ps {
		pairs[2*i], pairs[2*i+1] = p.old, p.new
	}
}
