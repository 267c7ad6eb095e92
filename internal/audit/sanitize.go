package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Bounds on what an event stores. A refused request can carry anything the
// transport let through (a NUL byte, invalid UTF-8, a value of a megabyte),
// and its event must still be stored: PostgreSQL refuses NUL and invalid
// UTF-8 in text, and a btree index entry larger than about 2.7 kB, and one
// refused row used to fail the whole batch it was inserted with.
const (
	// maxColumnBytes bounds the projected, indexed columns: longer than any
	// valid value (a secret ARN is at most 2048 characters, ASCII), below
	// PostgreSQL's index entry limit.
	maxColumnBytes = 2048
	// maxMessageBytes bounds the outcome's message.
	maxMessageBytes = 8 << 10
	// maxRequestBytes bounds the recorded request: larger than the JSON of
	// any valid request (50 Regions with 2048-character KMS key ARNs, a
	// reason and 16 labels), so only refused requests are summarised.
	maxRequestBytes = 256 << 10
	// strictBytes bounds every string of an event stored in strict form,
	// after its normal form was refused.
	strictBytes = 256
)

// sanitized returns the event with every value in a form any insert
// accepts: valid UTF-8 without NUL, bounded lengths, an operation id that is
// a UUID, a request that is valid JSON of bounded size. A value that had to
// change keeps a readable prefix and says how long it was and its SHA-256,
// so the event still says what was sent. Values are already redacted.
func (e Event) sanitized() Event {
	for _, f := range e.columns() {
		*f = clean(*f, maxColumnBytes)
	}
	e.Message = clean(e.Message, maxMessageBytes)
	if e.OperationID != "" {
		if _, err := uuid.Parse(e.OperationID); err != nil {
			e.OperationID = ""
		}
	}
	if len(e.Request) > 0 && (len(e.Request) > maxRequestBytes || !json.Valid(e.Request)) {
		e.Request = summary(e.Request)
	}
	return e
}

// strict is the last resort for an event whose normal form the database
// refused: printable ASCII only, every string short.
func (e Event) strict() Event {
	for _, f := range e.columns() {
		*f = clean(ascii(*f), strictBytes)
	}
	e.Message = clean(ascii(e.Message), strictBytes)
	if len(e.Request) > 0 {
		e.Request = summary(e.Request)
	}
	return e
}

// columns are the event's strings that are also table columns.
func (e *Event) columns() []*string {
	return []*string{&e.Kind, &e.Principal, &e.Method, &e.Secret, &e.RequestID, &e.ClientAddress, &e.Transport,
		&e.AWSRegion, &e.AWSRequestID, &e.AWSErrorCode}
}

// clean makes s storable: NUL and invalid UTF-8 become U+FFFD, and a value
// longer than limit keeps a prefix and a note of what was cut.
func clean(s string, limit int) string {
	ok := len(s) <= limit && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
	if ok {
		return s
	}
	note := fmt.Sprintf("…[%d bytes, sha256 %s]", len(s), digest(s))
	v := strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(v) <= limit {
		return v
	}
	cut := limit - len(note)
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:max(cut, 0)] + note
}

func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// summary stands for a request too large (or too broken) to record.
func summary(req []byte) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"omitted": "request too large or not valid JSON", "bytes": len(req), "sha256": digest(string(req))})
	return b
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
