// Package audit is replicad's audit trail: one event per RPC (accepted or
// refused) and one per AWS call attempt, recorded after redaction, stored
// append-only in PostgreSQL, hash-chained so that editing, removing or
// reordering an event is detected, shipped as JSON log lines, and pruned by
// a retention job that exports first and anchors the chain at the cut.
//
// Writing does not serialise requests behind the chain: the Writer
// group-commits concurrent events in one insert, linked into the chain as
// they are inserted, one batch at a time under the chain lock (each event
// is written once). Events stored in a transaction of their own (an
// accept's, with its operation) are inserted without a hash, and the
// Chainer links them shortly after; until linked such an event is durable
// but not yet tamper-evident, and VerifyAudit reports how many are
// waiting.
package audit

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/replicad/replicad/store"
)

// Kinds of events.
const (
	KindRPC     = "rpc"
	KindAWSCall = "aws_call"
	// KindApproval: a step of an operation's two-person approval
	// (requested, granted, refused, expired).
	KindApproval = "approval"
	// KindBreakGlass: an operation released without approval by a
	// break-glass token.
	KindBreakGlass = "break_glass"
)

// TransportWorker is the transport of AWS call events.
const TransportWorker = "worker"

// Event is the canonical content of an audit event: what is hashed. Every
// value in it is already redacted; nothing here may hold a secret.
type Event struct {
	ID            uuid.UUID       `json:"id"`
	Time          time.Time       `json:"time"`
	Kind          string          `json:"kind"`
	Principal     string          `json:"principal"`
	Method        string          `json:"method"`
	Secret        string          `json:"secret,omitempty"`
	Request       json.RawMessage `json:"request,omitempty"`
	Code          int32           `json:"code"`
	Message       string          `json:"message,omitempty"`
	OperationID   string          `json:"operation_id,omitempty"`
	RequestID     string          `json:"request_id,omitempty"`
	ClientAddress string          `json:"client_address,omitempty"`
	Transport     string          `json:"transport"`
	AWSRegion     string          `json:"aws_region,omitempty"`
	AWSRequestID  string          `json:"aws_request_id,omitempty"`
	AWSErrorCode  string          `json:"aws_error_code,omitempty"`
	LatencyMicros int64           `json:"latency_us"`
	// Routine marks a successful read (Status, GetOperation, a
	// DescribeSecret poll...): stored like any event, but logged at DEBUG,
	// not INFO, since a client waiting on an operation makes one every
	// second or so. Not part of the hashed content.
	Routine bool `json:"-"`
}

// Row renders the event as it is stored: an id and a time if it has none,
// every value sanitized so that no value can make the insert fail (see
// sanitized), and the canonical content the chain hashes. Callers that
// store events in a transaction of their own insert the row with
// store.InsertAuditEvents on that transaction.
func (e Event) Row() (store.AuditRow, error) {
	if e.ID == uuid.Nil {
		e.ID = uuid.Must(uuid.NewV7())
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	return e.sanitized().row()
}

func (e Event) row() (store.AuditRow, error) {
	e.Time = e.Time.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
	body, err := json.Marshal(e)
	if err != nil {
		return store.AuditRow{}, fmt.Errorf("encode audit event: %w", err)
	}
	r := store.AuditRow{
		ID: e.ID, Time: e.Time, Kind: e.Kind, Principal: e.Principal, Method: e.Method, Secret: e.Secret,
		Code: e.Code, RequestID: e.RequestID, ClientAddress: e.ClientAddress, Transport: e.Transport,
		AWSRegion: e.AWSRegion, AWSRequestID: e.AWSRequestID, Body: string(body),
	}
	if e.OperationID != "" {
		if r.OperationID, err = uuid.Parse(e.OperationID); err != nil {
			return store.AuditRow{}, fmt.Errorf("audit event operation id: %w", err)
		}
	}
	return r, nil
}

// Link is the chain's hash: SHA-256 over the previous event's hash and this
// event's canonical content (the idea of CloudTrail's log file integrity
// validation, per event).
func Link(prev []byte, body string) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write([]byte(body))
	return h.Sum(nil)
}

// genesis is the previous hash of the first event ever.
var genesis = make([]byte, sha256.Size)

// checkProjection reports whether a row's columns still agree with its body.
func checkProjection(r store.AuditRow) error {
	var e Event
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		return fmt.Errorf("content is not a valid event: %w", err)
	}
	op := ""
	if r.OperationID != uuid.Nil {
		op = r.OperationID.String()
	}
	switch {
	case e.ID != r.ID:
		return fmt.Errorf("id column differs from the hashed content")
	case !e.Time.Equal(r.Time):
		return fmt.Errorf("time column differs from the hashed content")
	case e.Kind != r.Kind, e.Principal != r.Principal, e.Method != r.Method, e.Secret != r.Secret,
		e.Code != r.Code, e.OperationID != op, e.RequestID != r.RequestID, e.ClientAddress != r.ClientAddress,
		e.Transport != r.Transport, e.AWSRegion != r.AWSRegion, e.AWSRequestID != r.AWSRequestID:
		return fmt.Errorf("a column differs from the hashed content")
	}
	return nil
}
