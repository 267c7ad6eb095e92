package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// maxBodyBytes bounds REST request bodies; the largest valid request is far
// smaller.
const maxBodyBytes = 1 << 20

// newGateway returns the REST handler: grpc-gateway translating JSON to
// calls on conn, a client connection to our own gRPC server, so every
// interceptor applies to REST exactly as to gRPC.
func newGateway(ctx context.Context, conn *grpc.ClientConn, annotate func(context.Context, *http.Request) metadata.MD) (http.Handler, error) {
	marshaler := &runtime.JSONPb{
		// Field names as in the protos, matching the field paths in error
		// details; unknown fields are refused, not ignored.
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		// {secret_id} arrives percent-encoded ("prod%2Fdb", ARNs with %3A):
		// route on "/" only, then decode the single-segment variable fully
		// (the grpc-httpjson-transcoding rule).
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptReserved),
		// Forward no client headers as metadata (Authorization is passed by
		// the gateway itself): a client must not be able to set metadata the
		// server trusts from the gateway.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMetadata(annotate),
		runtime.WithErrorHandler(gatewayErrorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithDisableHTTPMethodOverride(),
	)
	if err := replicadv1.RegisterReplicationServiceHandler(ctx, mux, conn); err != nil {
		return nil, err
	}
	if err := replicadv1.RegisterAuditServiceHandler(ctx, mux, conn); err != nil {
		return nil, err
	}
	return http.MaxBytesHandler(guard(mux), maxBodyBytes), nil
}

// queryRoutes name the request message whose fields a GET route accepts as
// query parameters.
var queryRoutes = []struct {
	match func(path string) bool
	msg   protoreflect.MessageDescriptor
}{
	{func(p string) bool { return p == "/v1/operations" }, (&replicadv1.ListOperationsRequest{}).ProtoReflect().Descriptor()},
	{func(p string) bool {
		return strings.HasPrefix(p, "/v1/secrets/") && strings.HasSuffix(p, "/replication")
	},
		(&replicadv1.StatusRequest{}).ProtoReflect().Descriptor()},
	{func(p string) bool { return p == "/v1/audit/events" }, (&replicadv1.ListAuditEventsRequest{}).ProtoReflect().Descriptor()},
}

// guard refuses, with 400, requests the gateway would otherwise pass on
// half-decoded: paths and query values that are not valid UTF-8 (protobuf
// strings must be), and query parameters that name no field of the route's
// request (as unknown JSON fields are refused: a typo in a filter must not
// silently widen a listing).
func guard(mux *runtime.ServeMux) http.Handler {
	badRequest := func(w http.ResponseWriter, r *http.Request, msg string) {
		_, m := runtime.MarshalerForRequest(mux, r)
		runtime.DefaultHTTPErrorHandler(r.Context(), mux, m, w, r, status.Error(codes.InvalidArgument, msg))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path, err := url.PathUnescape(r.URL.EscapedPath()); err != nil || !utf8.ValidString(path) {
			badRequest(w, r, "the request path is not valid percent-encoded UTF-8")
			return
		}
		if r.URL.RawQuery == "" {
			mux.ServeHTTP(w, r)
			return
		}
		var msg protoreflect.MessageDescriptor
		if r.Method == http.MethodGet {
			for _, qr := range queryRoutes {
				if qr.match(r.URL.Path) {
					msg = qr.msg
				}
			}
		}
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			badRequest(w, r, "the query string is not valid")
			return
		}
		for key, values := range query {
			if msg == nil || (msg.Fields().ByName(protoreflect.Name(key)) == nil && msg.Fields().ByJSONName(key) == nil) {
				badRequest(w, r, "unknown query parameter: see the API reference for this method's parameters")
				return
			}
			for _, v := range values {
				if !utf8.ValidString(v) {
					badRequest(w, r, "query parameters must be valid UTF-8")
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// gatewayErrorHandler writes errors as google.rpc.Status JSON with the
// matching HTTP status. Errors the gateway makes itself while decoding a
// request (malformed JSON, unknown fields, bad query parameters) become 400
// with a fixed message: decoder messages can quote parts of the body, and
// the body may hold sensitive values.
func gatewayErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes):
		err = status.Error(codes.InvalidArgument, "request body too large")
	case isDecodeError(err):
		err = status.Error(codes.InvalidArgument, "the request is not valid JSON for this method: check the syntax, field names and value types")
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// routingErrorHandler answers a known path with the wrong method with 405,
// not the gateway's default 501 (a 5xx would blame the server).
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusMethodNotAllowed,
			Err:        status.Error(codes.Unimplemented, "method not allowed for this path"),
		})
		return
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// isDecodeError tells gateway-side decoding failures from errors returned by
// the gRPC server, which arrive as statuses carried over the connection.
func isDecodeError(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return true
	}
	if st.Code() != codes.InvalidArgument {
		return false
	}
	// The server's InvalidArgument errors always carry details.
	return len(st.Details()) == 0
}

// gatewayListener is the in-process listener the gateway dials (buffered
// in-memory pipes): connections on it carry gatewayAddr as their peer
// address, which is how the server knows a request came through REST.
type gatewayListener struct {
	*bufconn.Listener
}

// gatewayBufferSize is each in-memory connection's buffer.
const gatewayBufferSize = 1 << 20

func newGatewayListener() *gatewayListener {
	return &gatewayListener{bufconn.Listen(gatewayBufferSize)}
}

func (l *gatewayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return gatewayConn{c}, nil
}

func (l *gatewayListener) Addr() net.Addr { return gatewayAddr{} }

func (l *gatewayListener) dial(ctx context.Context, _ string) (net.Conn, error) {
	return l.DialContext(ctx)
}

type gatewayConn struct{ net.Conn }

func (gatewayConn) RemoteAddr() net.Addr { return gatewayAddr{} }
func (gatewayConn) LocalAddr() net.Addr  { return gatewayAddr{} }
