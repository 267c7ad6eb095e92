package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/validate"
)

// gateway is the REST handler: grpc-gateway translating JSON to calls on
// conn, a client connection to our own gRPC server, so every interceptor
// applies to REST exactly as to gRPC. A request the gateway cannot decode
// is still one call: the gateway calls its RPC with an empty request and
// says why (mdRefusal), so the refusal is authenticated, audited and
// counted like any other.
type gateway struct {
	mux       *runtime.ServeMux
	conn      *grpc.ClientConn
	marshaler runtime.Marshaler
	routes    []route
}

func newGateway(ctx context.Context, conn *grpc.ClientConn, annotate func(context.Context, *http.Request) metadata.MD) (http.Handler, error) {
	g := &gateway{
		conn: conn,
		marshaler: strictJSON{&runtime.JSONPb{
			// Field names as in the protos, matching the field paths in error
			// details; unknown fields are refused, not ignored.
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}},
		routes: apiRoutes(),
	}
	g.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, g.marshaler),
		// {secret_id} arrives percent-encoded ("prod%2Fdb", ARNs with %3A):
		// route on "/" only, then decode the single-segment variable fully
		// (the grpc-httpjson-transcoding rule).
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptReserved),
		// Forward no client headers as metadata (Authorization is passed by
		// the gateway itself): a client must not be able to set metadata the
		// server trusts from the gateway.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMetadata(annotate),
		runtime.WithErrorHandler(g.errorHandler),
		runtime.WithRoutingErrorHandler(g.routingErrorHandler),
		runtime.WithDisableHTTPMethodOverride(),
		// A form-encoded POST to a GET route would otherwise be served as
		// that GET with the form as its query, past the query guard: a
		// misspelt filter silently ignored, an invalid value a 500.
		runtime.WithDisablePathLengthFallback(),
	)
	if err := replicadv1.RegisterReplicationServiceHandler(ctx, g.mux, conn); err != nil {
		return nil, err
	}
	if err := replicadv1.RegisterAuditServiceHandler(ctx, g.mux, conn); err != nil {
		return nil, err
	}
	if err := replicadv1.RegisterPolicyServiceHandler(ctx, g.mux, conn); err != nil {
		return nil, err
	}
	if err := replicadv1.RegisterDisasterRecoveryServiceHandler(ctx, g.mux, conn); err != nil {
		return nil, err
	}
	if err := replicadv1.RegisterInventoryServiceHandler(ctx, g.mux, conn); err != nil {
		return nil, err
	}
	return http.MaxBytesHandler(http.HandlerFunc(g.serveHTTP), maxRequestBytes), nil
}

// serveHTTP refuses what the gateway would otherwise pass on half-decoded:
// path variables that are not valid percent-encoded UTF-8 (protobuf
// strings must be), query parameters that name no field of the route's
// request (as unknown JSON fields are refused: a typo in a filter must not
// silently widen a listing), and query values of the wrong type. Enum
// values are accepted in their short form (state=succeeded), as replictl
// does.
func (g *gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rt, vars, ok := matchRoute(g.routes, r.Method, r.URL.EscapedPath())
	if !ok {
		g.mux.ServeHTTP(w, r)
		return
	}
	var vs []validate.Violation
	for i, raw := range vars {
		if v, err := url.PathUnescape(raw); err != nil || !utf8.ValidString(v) {
			vs = append(vs, validate.Violation{Field: rt.vars[i], Reason: "INVALID_ENCODING",
				Description: "the path segment is not valid percent-encoded UTF-8"})
		}
	}
	if r.URL.RawQuery != "" {
		query, qvs := g.checkQuery(rt, r.URL.RawQuery)
		vs = append(vs, qvs...)
		if len(qvs) == 0 {
			r = r.Clone(r.Context())
			r.URL.RawQuery = query.Encode()
		}
	}
	if len(vs) > 0 {
		g.refuse(r.Context(), w, r, rt, vs)
		return
	}
	g.mux.ServeHTTP(w, r)
}

// checkQuery checks a GET route's query parameters against its request
// message and returns them with enum values in their full form.
func (g *gateway) checkQuery(rt route, raw string) (url.Values, []validate.Violation) {
	query, err := url.ParseQuery(raw)
	if err != nil {
		return nil, []validate.Violation{{Field: "query", Reason: "INVALID_QUERY", Description: "the query string is not valid percent-encoding"}}
	}
	var vs []validate.Violation
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range query {
			if !yield(k) {
				return
			}
		}
	}) {
		values := query[key]
		var fd protoreflect.FieldDescriptor
		if !rt.body {
			fd = queryField(rt.input, key)
		}
		if fd == nil {
			vs = append(vs, validate.Violation{Field: echo(key, "query"), Reason: "UNKNOWN_QUERY_PARAMETER",
				Description: unknownParameter(rt, key)})
			continue
		}
		field := echo(key, "query")
		bad := false
		for i, v := range values {
			switch {
			case !utf8.ValidString(v):
				vs = append(vs, validate.Violation{Field: field, Reason: "INVALID_UTF8", Description: "query values must be valid UTF-8"})
				bad = true
			case fd.Kind() == protoreflect.EnumKind:
				full, ok := enumValue(fd.Enum(), v)
				if !ok {
					vs = append(vs, validate.Violation{Field: field, Reason: "INVALID_ENUM", Description: enumHelp(fd.Enum(), v)})
					bad = true
				}
				values[i] = full
			}
		}
		if bad {
			continue
		}
		// Whatever else the gateway would refuse (a number that is not one,
		// a time that is not RFC 3339), refused here with the field's name,
		// and without the value, which its own message quotes.
		if err := runtime.PopulateQueryParameters(newMessage(rt.input), url.Values{key: values}, utilities.NewDoubleArray(nil)); err != nil {
			vs = append(vs, validate.Violation{Field: field, Reason: "INVALID_VALUE", Description: "not a valid " + kindName(fd)})
		}
	}
	return query, vs
}

func unknownParameter(rt route, key string) string {
	if rt.body {
		return fmt.Sprintf("unknown query parameter %s: %s %s takes its fields in the JSON body, not in the query", quoteName(key), rt.verb, rt.template)
	}
	var names []string
	fields := rt.input.Fields()
	for i := 0; i < fields.Len(); i++ {
		if name := string(fields.Get(i).Name()); !slices.Contains(rt.vars, name) {
			names = append(names, name)
		}
	}
	return fmt.Sprintf("unknown query parameter %s; this method takes %s", quoteName(key), strings.Join(names, ", "))
}

// enumValue reads an enum value as its full name (OPERATION_STATE_SUCCEEDED),
// its short name in any case (succeeded) or its number.
func enumValue(ed protoreflect.EnumDescriptor, v string) (string, bool) {
	if ev := ed.Values().ByName(protoreflect.Name(v)); ev != nil {
		return v, true
	}
	if n, err := strconv.Atoi(v); err == nil {
		if ev := ed.Values().ByNumber(protoreflect.EnumNumber(n)); ev != nil {
			return string(ev.Name()), true
		}
	}
	prefix := enumPrefix(ed)
	up := strings.ToUpper(v)
	for _, name := range []string{up, prefix + up} {
		if ev := ed.Values().ByName(protoreflect.Name(name)); ev != nil {
			return name, true
		}
	}
	return "", false
}

func enumHelp(ed protoreflect.EnumDescriptor, v string) string {
	prefix := enumPrefix(ed)
	var short []string
	for i := 0; i < ed.Values().Len(); i++ {
		if s := strings.TrimPrefix(string(ed.Values().Get(i).Name()), prefix); s != "UNSPECIFIED" {
			short = append(short, s)
		}
	}
	article := "a"
	if strings.ContainsRune("AEIOU", rune(ed.Name()[0])) {
		article = "an"
	}
	return fmt.Sprintf("%s is not %s %s; use one of %s", quoteName(v), article, ed.Name(), strings.Join(short, ", "))
}

// enumPrefix is what every value name of an enum starts with
// (OPERATION_STATE_), by the style guide's rule.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	vals := ed.Values()
	if vals.Len() == 0 {
		return ""
	}
	prefix := string(vals.Get(0).Name())
	for i := 1; i < vals.Len(); i++ {
		name := string(vals.Get(i).Name())
		for !strings.HasPrefix(name, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	return prefix[:strings.LastIndex(prefix, "_")+1]
}

func kindName(fd protoreflect.FieldDescriptor) string {
	if fd.Kind() == protoreflect.MessageKind {
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			return "time (RFC 3339, like 2025-01-31T12:00:00Z)"
		case "google.protobuf.Duration":
			return "duration (like 90s)"
		}
		return string(fd.Message().Name())
	}
	return fd.Kind().String()
}

// nameRE is what a caller-chosen name must look like to be repeated in an
// error: a field or parameter name, not a value.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]{0,63}$`)

func quoteName(s string) string {
	if nameRE.MatchString(s) {
		return strconv.Quote(s)
	}
	return "(not shown)"
}

func echo(name, otherwise string) string {
	if nameRE.MatchString(name) {
		return name
	}
	return otherwise
}

// refuse answers a request the gateway could not decode by calling its RPC
// with an empty request and the reasons (mdRefusal): the server refuses
// it, after authenticating and before auditing it, and that answer is
// written.
func (g *gateway) refuse(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route, vs []validate.Violation) {
	br := &errdetails.BadRequest{}
	for _, v := range vs {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Reason: v.Reason, Description: v.Description})
	}
	b, _ := proto.Marshal(br)
	if _, annotated := runtime.RPCMethod(ctx); !annotated {
		var err error
		if ctx, err = runtime.AnnotateContext(ctx, g.mux, r, rt.FullMethod, runtime.WithHTTPPathPattern(rt.template)); err != nil {
			runtime.DefaultHTTPErrorHandler(ctx, g.mux, g.marshaler, w, r, status.Error(codes.InvalidArgument, (&validate.Error{Violations: vs}).Error()))
			return
		}
	}
	ctx = metadata.AppendToOutgoingContext(ctx, mdRefusal, string(b))
	err := g.conn.Invoke(ctx, rt.FullMethod, newMessage(rt.input), newMessage(rt.output))
	if err == nil {
		// The server always refuses such a call; never answer 200 for it.
		err = status.Error(codes.InvalidArgument, (&validate.Error{Violations: vs}).Error())
	}
	runtime.DefaultHTTPErrorHandler(ctx, g.mux, g.marshaler, w, r, err)
}

// errorHandler writes errors as google.rpc.Status JSON with the matching
// HTTP status. An error the gateway made itself while decoding a request
// (malformed JSON, unknown fields, bad path or query values) is turned into
// a refusal by the server (refuse); its text is rewritten first: decoder
// messages can quote parts of the body, and the body may hold sensitive
// values.
func (g *gateway) errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if isDecodeError(err) {
		if method, ok := runtime.RPCMethod(ctx); ok {
			if rt, ok := g.routeOf(method); ok {
				g.refuse(ctx, w, r, rt, []validate.Violation{decodeViolation(err, rt.input)})
				return
			}
		}
		v := decodeViolation(err, nil)
		err = status.Error(codes.InvalidArgument, (&validate.Error{Violations: []validate.Violation{v}}).Error())
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

func (g *gateway) routeOf(fullMethod string) (route, bool) {
	for _, rt := range g.routes {
		if rt.FullMethod == fullMethod {
			return rt, true
		}
	}
	return route{}, false
}

// routingErrorHandler answers a known path with the wrong method with 405,
// not the gateway's default 501 (a 5xx would blame the server), and a path
// that would be a route if a secret id's "/" were percent-encoded with a
// 404 that says so.
func (g *gateway) routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusMethodNotAllowed,
			Err:        status.Error(codes.Unimplemented, "method not allowed for this path"),
		})
		return
	case http.StatusNotFound:
		if rt, ok := looseRoute(g.routes, r.URL.EscapedPath()); ok {
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, status.Error(codes.NotFound, fmt.Sprintf(
				"no such path; if this is %s %s, a path variable holds a \"/\": percent-encode it as %%2F (prod/db is prod%%2Fdb)",
				rt.verb, rt.template)))
			return
		}
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, status.Error(codes.NotFound, "no such path: see /openapi.json for the API's paths"))
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

// decodeViolation says, without quoting the request, what a gateway
// decoding error is about.
func decodeViolation(err error, input protoreflect.MessageDescriptor) validate.Violation {
	msg := status.Convert(err).Message()
	if v, ok := strings.CutPrefix(msg, bodyErrorPrefix); ok {
		var out validate.Violation
		if json.Unmarshal([]byte(v), &out) == nil {
			return out
		}
	}
	if m := paramErrorRE.FindStringSubmatch(msg); m != nil {
		return validate.Violation{Field: m[1], Reason: "INVALID_VALUE", Description: "not a valid value for this path variable"}
	}
	return validate.Violation{Field: "body", Reason: "INVALID_REQUEST", Description: "the request is not valid for this method: check the JSON syntax, field names and value types"}
}

var paramErrorRE = regexp.MustCompile(`^(?:type mismatch, parameter: |missing parameter )([a-z_]+)`)

// bodyErrorPrefix starts the message of a body decoding error from
// strictJSON: a validate.Violation in JSON follows, for decodeViolation.
const bodyErrorPrefix = "replicad-body-error: "

// strictJSON is the gateway's JSON marshaler with a stricter decoder: the
// body must be exactly one JSON value (trailing data, such as a second
// object, is refused, not ignored), and decoding errors name the field and
// the problem without quoting the body.
type strictJSON struct{ *runtime.JSONPb }

func (j strictJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(r)
		var maxBytes *http.MaxBytesError
		switch {
		case errors.As(err, &maxBytes):
			return bodyError(validate.Violation{Field: "body", Reason: "TOO_LARGE",
				Description: fmt.Sprintf("the request body is larger than %d bytes, far more than any valid request", maxBytes.Limit)})
		case err != nil:
			return bodyError(validate.Violation{Field: "body", Reason: "UNREADABLE", Description: "the request body could not be read"})
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return io.EOF // no body: an empty request, as the gateway expects
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		var first json.RawMessage
		if err := dec.Decode(&first); err == nil {
			if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
				return bodyError(validate.Violation{Field: "body", Reason: "TRAILING_DATA", Description: fmt.Sprintf(
					"unexpected data after the JSON body, at byte %d: send exactly one JSON object", len(data)-len(rest))})
			}
		}
		if err := j.Unmarshal(data, v); err != nil {
			var md protoreflect.MessageDescriptor
			if m, ok := v.(proto.Message); ok {
				md = m.ProtoReflect().Descriptor()
			}
			return bodyError(jsonViolation(err, md, json.Valid(data)))
		}
		return nil
	})
}

func bodyError(v validate.Violation) error {
	b, _ := json.Marshal(v)
	return errors.New(bodyErrorPrefix + string(b))
}

var (
	unknownFieldRE   = regexp.MustCompile(`unknown field "([^"]*)"`)
	duplicateFieldRE = regexp.MustCompile(`duplicate field "([^"]*)"`)
	invalidValueRE   = regexp.MustCompile(`invalid value for (\w+) field (\w+):`)
	positionRE       = regexp.MustCompile(`\(line (\d+):(\d+)\)`)
)

// jsonViolation rewrites a protojson error: the field it is about and what
// is wrong, never the token it quotes.
// validJSON says the body is valid JSON, so that an "unexpected token" is
// a value of the wrong type (a string where a list belongs), not a syntax
// error.
func jsonViolation(err error, md protoreflect.MessageDescriptor, validJSON bool) validate.Violation {
	msg := err.Error()
	at := ""
	if m := positionRE.FindStringSubmatch(msg); m != nil {
		at = " at line " + m[1] + ", column " + m[2]
	}
	switch m := (struct{ u, d, i []string }{unknownFieldRE.FindStringSubmatch(msg), duplicateFieldRE.FindStringSubmatch(msg), invalidValueRE.FindStringSubmatch(msg)}); {
	case m.u != nil:
		return validate.Violation{Field: echo(m.u[1], "body"), Reason: "UNKNOWN_FIELD", Description: "unknown field " + quoteName(m.u[1]) + at}
	case m.d != nil:
		return validate.Violation{Field: echo(m.d[1], "body"), Reason: "DUPLICATE_FIELD", Description: "field " + quoteName(m.d[1]) + " given more than once" + at}
	case m.i != nil:
		field := protoName(md, m.i[2])
		return validate.Violation{Field: field, Reason: "INVALID_VALUE", Description: "not a valid " + m.i[1] + " value" + at}
	case validJSON && strings.Contains(msg, "unexpected token"):
		return validate.Violation{Field: "body", Reason: "WRONG_TYPE", Description: "a value has the wrong type for its field" + at + ": see the API reference for the field's type"}
	case strings.Contains(msg, "syntax error"), strings.Contains(msg, "unexpected EOF"):
		return validate.Violation{Field: "body", Reason: "INVALID_JSON", Description: "the body is not valid JSON" + at}
	}
	return validate.Violation{Field: "body", Reason: "INVALID_REQUEST", Description: "the body does not match this method's request: check field names and value types" + at}
}

// protoName finds the proto name of a field by its JSON name, anywhere in
// the request (the decoder names fields by JSON name, without the path).
func protoName(md protoreflect.MessageDescriptor, jsonName string) string {
	seen := map[protoreflect.FullName]bool{}
	var find func(md protoreflect.MessageDescriptor) string
	find = func(md protoreflect.MessageDescriptor) string {
		if md == nil || seen[md.FullName()] {
			return ""
		}
		seen[md.FullName()] = true
		if fd := md.Fields().ByJSONName(jsonName); fd != nil {
			return string(fd.Name())
		}
		for i := 0; i < md.Fields().Len(); i++ {
			if name := find(md.Fields().Get(i).Message()); name != "" {
				return name
			}
		}
		return ""
	}
	if name := find(md); name != "" {
		return name
	}
	return echo(jsonName, "body")
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
