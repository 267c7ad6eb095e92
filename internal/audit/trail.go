package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/store"
)

// Trail records events: it owns the redaction of what goes in them.
type Trail struct {
	w   *Writer
	red *redact.Redactor
	log *slog.Logger
}

// NewTrail returns a Trail writing with w.
func NewTrail(w *Writer, red *redact.Redactor, log *slog.Logger) *Trail {
	return &Trail{w: w, red: red, log: log}
}

// Redactor is the trail's redactor.
func (t *Trail) Redactor() *redact.Redactor { return t.red }

// RequestJSON renders a message for an event, redacted.
func (t *Trail) RequestJSON(m proto.Message) json.RawMessage {
	if m == nil {
		return nil
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(t.red.Message(m))
	if err != nil {
		return nil
	}
	return b
}

// Record stores an event. If it cannot be stored, the event still reaches
// the log (at error level) so the SIEM has it, and the error is returned.
//
// A routine event (a successful read) is group-committed without waiting
// for its commit: reads are what portals and --wait make in loops, and a
// commit wait per read would cost each one a WAL flush. A kill -9 can lose
// at most Writer.LossWindow routine events; mutating RPCs, refusals and
// AWS writes always wait (docs/operations.md, "The audit trail").
func (t *Trail) Record(ctx context.Context, e Event) error {
	if e.ID == uuid.Nil {
		e.ID = uuid.Must(uuid.NewV7())
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	var err error
	if e.Routine {
		err = t.w.WriteAsync(ctx, e, func(err error) { t.unstored(context.WithoutCancel(ctx), e, err) })
	} else {
		err = t.w.Write(ctx, e)
	}
	if err != nil {
		t.unstored(ctx, e, err)
	}
	return err
}

// Stored is called once a row that a caller stored in its own transaction
// (an event that must commit with the change it records) has committed:
// it writes the event's SIEM line, as the Writer does for its own.
func (t *Trail) Stored(row store.AuditRow) { t.w.logStored(row.Body, false) }

func (t *Trail) unstored(ctx context.Context, e Event, err error) {
	body, _ := json.Marshal(e.sanitized())
	t.log.ErrorContext(ctx, "audit_event_unstored", "event", json.RawMessage(body), "error", err)
}

// ObserveAttempt records one AWS call attempt (awssm.Observer): API, Region,
// parameters as sent (redacted), AWS request id, outcome and latency, linked
// to the operation and principal it was made for.
func (t *Trail) ObserveAttempt(ctx context.Context, a awssm.Attempt) {
	e := Event{
		Time:          a.Time,
		Kind:          KindAWSCall,
		Principal:     a.Caller.Principal,
		Method:        a.API,
		OperationID:   a.Caller.OperationID,
		Transport:     TransportWorker,
		AWSRegion:     a.Region,
		AWSRequestID:  a.RequestID,
		AWSErrorCode:  a.ErrorCode,
		LatencyMicros: a.Duration.Microseconds(),
	}
	params := callParamsProto(a.Params)
	e.Secret = t.red.ARN(a.Params.SecretID)
	e.Request = t.RequestJSON(params)
	// A successful poll of DescribeSecret is routine; writes never are.
	e.Routine = a.ErrorCode == "" && a.API == "DescribeSecret"
	if a.ErrorCode != "" {
		e.Code = int32(a.Class.Code())
		e.Message = a.ErrorCode + ": " + t.red.Scrubber(params).String(a.ErrorMessage)
	}
	// The call already happened: an event the database could not take now
	// is retried in the background until it is stored (a PostgreSQL
	// restart must not turn AWS calls into log lines); only if it still
	// cannot be stored when the process stops does it go to the log.
	t.recordRetrying(context.WithoutCancel(ctx), e)
}

// recordRetrying stores e, retrying in the background when it cannot be
// stored now.
func (t *Trail) recordRetrying(ctx context.Context, e Event) {
	if e.ID == uuid.Nil {
		e.ID = uuid.Must(uuid.NewV7())
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	var err error
	if e.Routine {
		err = t.w.WriteAsync(ctx, e, func(err error) { t.retry(ctx, e, err) })
	} else {
		err = t.w.Write(ctx, e)
	}
	if err != nil {
		t.retry(ctx, e, err)
	}
}

func (t *Trail) retry(ctx context.Context, e Event, err error) {
	if errors.Is(err, ErrClosed) {
		t.unstored(ctx, e, err)
		return
	}
	t.log.WarnContext(ctx, "audit_event_retrying", "id", e.ID.String(), "kind", e.Kind, "method", e.Method, "error", err)
	t.w.Retry(e, func(err error) { t.unstored(ctx, e, err) })
}

// callParamsProto puts an AWS call's parameters in the proto form whose
// annotations say what in them is sensitive.
func callParamsProto(p awssm.CallParams) *replicadv1.AwsCallParameters {
	out := &replicadv1.AwsCallParameters{
		SecretId:                    p.SecretID,
		ForceOverwriteReplicaSecret: p.ForceOverwriteReplicaSecret,
		RemoveReplicaRegions:        p.RemoveReplicaRegions,
	}
	for _, r := range p.AddReplicaRegions {
		out.AddReplicaRegions = append(out.AddReplicaRegions, &replicadv1.ReplicaRegion{Region: r.Region, KmsKeyId: r.KMSKeyID})
	}
	return out
}
