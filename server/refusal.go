package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/replicad/replicad/internal/validate"
)

// maxRequestBytes bounds a request message, over gRPC as over REST (the
// body): the largest valid request (50 Regions with KMS key ARNs, a reason,
// 16 labels) is far smaller. A larger one is refused, and audited, without
// being decoded.
const maxRequestBytes = 1 << 20

// maxGRPCMessageBytes is where grpc itself refuses a message, before it
// reaches the codec: what one stream may make the server buffer.
const maxGRPCMessageBytes = 4 << 20

// mdRefusal carries, from the REST gateway to the server, why a request
// could not be decoded (a google.rpc.BadRequest, serialized): the gateway
// then calls the RPC with an empty request, so the refusal is
// authenticated, audited and counted like every other. It is trusted only
// on the gateway's in-process connection.
const mdRefusal = "x-replicad-refusal-bin"

// decodeFailure holds why a request message could not be received or
// decoded (guardDecoding), for refusalUnary to answer.
type decodeFailure struct{ err error }

type decodeKey struct{}

// guardDecoding returns desc with every method's handler wrapped so that a
// request the codec could not decode (see protoCodec) still runs the
// interceptors, with an empty message: it is authenticated, audited and
// refused by refusalUnary, instead of being answered by grpc, unaudited,
// before any interceptor runs (and with Internal, as if the server were at
// fault).
func guardDecoding(desc *grpc.ServiceDesc, codec protoCodec) *grpc.ServiceDesc {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		handler := m.Handler
		d.Methods[i] = grpc.MethodDesc{MethodName: m.MethodName, Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			f := &decodeFailure{}
			ctx = context.WithValue(ctx, decodeKey{}, f)
			return handler(srv, ctx, func(v any) error {
				err := dec(v)
				if failed := codec.take(v); failed != nil {
					f.err = failed
				}
				return err
			}, interceptor)
		}}
	}
	return &d
}

// refusalUnary refuses, before the handler, requests no handler should
// see: a message that could not be decoded, a REST request the gateway
// could not decode, and strings no field accepts (NUL bytes, values longer
// than any field allows). It runs inside authentication, so an
// unauthenticated caller is told only that.
func refusalUnary(errs errorMapper) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, auditedPrefix) {
			return handler(ctx, req)
		}
		if f, _ := ctx.Value(decodeKey{}).(*decodeFailure); f != nil && f.err != nil {
			return nil, errs.toStatus(ctx, f.err)
		}
		if CallerFrom(ctx).Transport == TransportREST {
			md, _ := metadata.FromIncomingContext(ctx)
			if v := md.Get(mdRefusal); len(v) > 0 {
				var br errdetails.BadRequest
				if err := proto.Unmarshal([]byte(v[0]), &br); err == nil && len(br.GetFieldViolations()) > 0 {
					verr := &validate.Error{}
					for _, fv := range br.GetFieldViolations() {
						verr.Violations = append(verr.Violations, validate.Violation{Field: fv.GetField(), Reason: fv.GetReason(), Description: fv.GetDescription()})
					}
					return nil, errs.toStatus(ctx, verr)
				}
			}
		}
		if msg, ok := req.(proto.Message); ok {
			if err := validate.Strings(msg); err != nil {
				return nil, errs.toStatus(ctx, err)
			}
		}
		return handler(ctx, req)
	}
}

// errRequestTooLarge is a request message over maxRequestBytes.
type errRequestTooLarge struct{ limit int }

func (e errRequestTooLarge) Error() string {
	return fmt.Sprintf("the request is larger than %d bytes, far more than any valid request", e.limit)
}

// protoCodec is grpc's proto codec, except for the API's request messages
// (package replicad.v1): one larger than maxRequestBytes is not decoded,
// and one that fails to decode is left empty; either way Unmarshal succeeds
// and the failure waits for the method's handler (guardDecoding) to take
// it. grpc writes the status of a failed decode to the client at once, as
// Internal, before any interceptor runs: the request would be unaudited and
// blamed on the server.
type protoCodec struct {
	encoding.CodecV2
	failed *sync.Map // proto.Message -> error, until taken
}

func newProtoCodec() protoCodec {
	return protoCodec{CodecV2: encoding.GetCodecV2("proto"), failed: &sync.Map{}}
}

func (c protoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor().ParentFile().Package() != "replicad.v1" {
		return c.CodecV2.Unmarshal(data, v)
	}
	if data.Len() > maxRequestBytes {
		c.failed.Store(m, errRequestTooLarge{limit: maxRequestBytes})
		return nil
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := proto.Unmarshal(buf.ReadOnlyData(), m); err != nil {
		proto.Reset(m)
		c.failed.Store(m, undecodable(m.ProtoReflect().Descriptor(), buf.ReadOnlyData(), err))
	}
	return nil
}

// take returns (and forgets) why v could not be decoded, or nil.
func (c protoCodec) take(v any) error {
	if err, ok := c.failed.LoadAndDelete(v); ok {
		return err.(error)
	}
	return nil
}

// undecodable says which field of a request could not be decoded.
func undecodable(md protoreflect.MessageDescriptor, b []byte, err error) error {
	v := validate.Violation{Reason: "UNDECODABLE", Description: "the request is not a valid protobuf message of this method's request type"}
	if strings.Contains(err.Error(), "invalid UTF-8") {
		v = validate.Violation{Reason: "INVALID_UTF8", Description: "a string field is not valid UTF-8: protobuf strings must be"}
		if field := invalidUTF8Field(md, b, ""); field != "" {
			v = validate.Violation{Field: field, Reason: "INVALID_UTF8", Description: "not valid UTF-8: protobuf strings must be"}
		}
	}
	return &validate.Error{Violations: []validate.Violation{v}}
}

// invalidUTF8Field walks a message's wire form and returns the path of the
// first string that is not valid UTF-8, or "".
func invalidUTF8Field(md protoreflect.MessageDescriptor, b []byte, prefix string) string {
	seen := map[protoreflect.FieldNumber]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return ""
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		path := prefix + string(fd.Name())
		if fd.IsList() {
			path = fmt.Sprintf("%s[%d]", path, seen[num])
			seen[num]++
		}
		switch {
		case fd.IsMap():
			if invalidUTF8Field(fd.Message(), v, "") != "" {
				return path
			}
		case fd.Kind() == protoreflect.StringKind:
			if !utf8.Valid(v) {
				return path
			}
		case fd.Kind() == protoreflect.MessageKind:
			if f := invalidUTF8Field(fd.Message(), v, path+"."); f != "" {
				return f
			}
		}
	}
	return ""
}
