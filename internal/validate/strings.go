package validate

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxStringBytes bounds every string a request may carry. No field allows
// more: the longest are the free-text reason (MaxReasonLength characters,
// at most 4 bytes each) and ids of 2048 characters. The rules of each field
// then say what it may hold; this bound keeps every value the server stores,
// audits or matches small, whatever the request.
const MaxStringBytes = 4 * MaxReasonLength

// maxEchoedKey is the longest map key a field path repeats: a longer (or
// unprintable) one is named by its map alone.
const maxEchoedKey = 64

// Strings checks every string in a request, at any depth (map keys and
// values, list elements, nested messages): none may hold a NUL byte or be
// longer than MaxStringBytes. PostgreSQL cannot store a NUL in text, so a
// NUL could only be refused later, by the database; an over-long value
// would be copied into logs and audit rows. Both are refused here, before
// anything is stored, with the path of every bad field.
func Strings(m proto.Message) error {
	if m == nil {
		return nil
	}
	var c collector
	walkStrings(&c, "", m.ProtoReflect())
	if len(c.vs) > maxStringViolations {
		// The answer, and what is done with it (audited, scrubbed), must
		// not grow with the request: a request of 100,000 bad labels gets
		// the first few.
		more := len(c.vs) - maxStringViolations
		c.vs = append(c.vs[:maxStringViolations], Violation{Field: "", Reason: "MORE_VIOLATIONS",
			Description: fmt.Sprintf("and %d more strings like these", more)})
	}
	return c.err()
}

// maxStringViolations is how many bad strings Strings names.
const maxStringViolations = 20

func walkStrings(c *collector, prefix string, m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			keyIsString := fd.MapKey().Kind() == protoreflect.StringKind
			valDesc := fd.MapValue()
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				elem := path
				if keyIsString {
					key := k.String()
					if checkString(c, path, key, "a key of "+path) {
						elem = path + "[" + strconv.Quote(key) + "]"
					}
				} else {
					elem = path + "[" + k.String() + "]"
				}
				switch valDesc.Kind() {
				case protoreflect.StringKind:
					checkString(c, elem, mv.String(), "the value")
				case protoreflect.MessageKind:
					walkStrings(c, elem+".", mv.Message())
				}
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				elem := fmt.Sprintf("%s[%d]", path, i)
				switch fd.Kind() {
				case protoreflect.StringKind:
					checkString(c, elem, l.Get(i).String(), "the value")
				case protoreflect.MessageKind:
					walkStrings(c, elem+".", l.Get(i).Message())
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			checkString(c, path, v.String(), "the value")
		case fd.Kind() == protoreflect.MessageKind:
			walkStrings(c, path+".", v.Message())
		}
		return true
	})
}

// checkString adds a violation for a bad value and reports whether the
// value is fit to be repeated in a field path (short and printable).
func checkString(c *collector, field, s, what string) bool {
	ok := true
	if strings.IndexByte(s, 0) >= 0 {
		c.add(field, "NUL_CHARACTER", "%s contains a NUL character, which no field accepts", what)
		ok = false
	}
	if len(s) > MaxStringBytes {
		c.add(field, "TOO_LONG", "%s is longer than %d bytes, more than any field accepts", what, MaxStringBytes)
		ok = false
	}
	return ok && len(s) <= maxEchoedKey && printableASCII(s)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
