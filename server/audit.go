package server

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/validate"
)

// auditedPrefix selects the RPCs audited: replicad's own API. Health checks
// and reflection, called by load balancers and tools every few seconds, are
// infrastructure, not requests anyone must answer for.
const auditedPrefix = "/replicad.v1."

// mutating reports whether an RPC changes something: its events are
// never routine.
func mutating(fullMethod string) bool {
	switch fullMethod[strings.LastIndexByte(fullMethod, '/')+1:] {
	case "Replicate", "Remove", "Promote", "CancelOperation", "ApproveOperation":
		return true
	}
	return false
}

// auditUnary records exactly one audit event per API RPC, accepted or
// refused (invalid, unauthenticated, denied), after the handler returns.
// It is also the last redaction point: the error returned to the client is
// scrubbed of the request's sensitive values. If the event cannot be
// stored, the RPC fails with Unavailable: replicad does not act
// unaudited. (A mutating request may have been accepted by then; retrying
// with the same request_id returns that operation.)
func auditUnary(trail *audit.Trail) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, auditedPrefix) {
			return handler(ctx, req)
		}
		if m, ok := ctx.Value(auditMarkKey{}).(*auditMark); ok {
			m.audited.Store(true)
		}
		began := time.Now()
		msg, _ := req.(proto.Message)
		var acc *audit.Accept
		if accepts(info.FullMethod) && msg != nil {
			// The engine stores this event with the operation it accepts,
			// in one transaction; a request that accepts nothing is
			// recorded below, as any other.
			// The principal is filled in from the operation: callers are
			// authenticated inside this interceptor.
			c := CallerFrom(ctx)
			acc = trail.Accept(audit.Event{
				Kind: audit.KindRPC, Method: info.FullMethod, Request: trail.RequestJSON(msg),
				ClientAddress: c.Address, Transport: c.Transport,
				Secret: trail.Redactor().ARN(stringField(msg, "secret_id")), RequestID: stringField(msg, "request_id"),
			}, began)
			ctx = context.WithValue(ctx, acceptKey{}, acc)
		}
		resp, err := handler(ctx, req)
		if acc != nil && acc.WasStored() {
			return resp, err
		}
		st := status.Convert(err)
		if err != nil {
			scrubbed := st.Proto()
			scrubbed.Message = trail.Redactor().Scrubber(msg).String(st.Message())
			st = status.FromProto(scrubbed)
			err = st.Err()
		}
		c := CallerFrom(ctx)
		e := audit.Event{
			Time:          time.Now(),
			Kind:          audit.KindRPC,
			Principal:     c.Principal,
			Method:        info.FullMethod,
			Request:       trail.RequestJSON(msg),
			Code:          int32(st.Code()),
			Message:       st.Message(),
			ClientAddress: c.Address,
			Transport:     c.Transport,
			LatencyMicros: time.Since(began).Microseconds(),
		}
		if msg != nil {
			e.Secret = trail.Redactor().ARN(stringField(msg, "secret_id"))
			e.RequestID = stringField(msg, "request_id")
			e.OperationID = stringField(msg, "id")
		}
		if r, ok := resp.(proto.Message); ok && e.OperationID == "" {
			if op := messageField(r, "operation"); op != nil {
				e.OperationID = stringField(op, "id")
			}
		}
		if !validate.IsUUID(e.OperationID) {
			e.OperationID = ""
		}
		e.Routine = err == nil && !mutating(info.FullMethod)
		if auditErr := trail.Record(context.WithoutCancel(ctx), e); auditErr != nil {
			return nil, status.Error(codes.Unavailable, "the audit trail is unavailable, so the request was not completed; retry (with the same request_id, if any)")
		}
		return resp, err
	}
}

// accepts reports whether an RPC may accept an operation (Submit).
func accepts(fullMethod string) bool {
	switch fullMethod[strings.LastIndexByte(fullMethod, '/')+1:] {
	case "Replicate", "Remove", "Promote":
		return true
	}
	return false
}

type acceptKey struct{}

// acceptAudit is the audit event auditUnary prepared for the engine to store
// with the operation a request accepts, or nil.
func acceptAudit(ctx context.Context) *audit.Accept {
	a, _ := ctx.Value(acceptKey{}).(*audit.Accept)
	return a
}

func stringField(m proto.Message, name protoreflect.Name) string {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

func messageField(m proto.Message, name protoreflect.Name) proto.Message {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() || !m.ProtoReflect().Has(fd) {
		return nil
	}
	return m.ProtoReflect().Get(fd).Message().Interface()
}

// auditMark says whether an RPC reached auditUnary.
type auditMark struct {
	method  string
	began   time.Time
	audited atomic.Bool
}

type auditMarkKey struct{}

// auditFallback records the RPCs grpc refused before any interceptor ran —
// a message larger than grpc accepts at all, a stream reset — so that
// every API RPC is in the trail, refused ones included. What such an event
// knows is the method, the client's address and the outcome: credentials
// were never looked at.
type auditFallback struct{ trail *audit.Trail }

func (auditFallback) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (auditFallback) HandleConn(context.Context, stats.ConnStats)                       {}

func (auditFallback) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if !strings.HasPrefix(info.FullMethodName, auditedPrefix) {
		return ctx
	}
	return context.WithValue(ctx, auditMarkKey{}, &auditMark{method: info.FullMethodName, began: time.Now()})
}

func (h auditFallback) HandleRPC(ctx context.Context, s stats.RPCStats) {
	end, ok := s.(*stats.End)
	if !ok {
		return
	}
	m, ok := ctx.Value(auditMarkKey{}).(*auditMark)
	if !ok || m.audited.Load() {
		return
	}
	transport, addr := transportOf(ctx)
	st := status.Convert(end.Error)
	// A failure here is logged by Record; the RPC has already ended.
	_ = h.trail.Record(context.WithoutCancel(ctx), audit.Event{
		Time: time.Now(), Kind: audit.KindRPC, Principal: Unauthenticated, Method: m.method,
		Code: int32(st.Code()), Message: h.trail.Redactor().Text(st.Message()), ClientAddress: addr, Transport: transport,
		LatencyMicros: time.Since(m.began).Microseconds(),
	})
}
