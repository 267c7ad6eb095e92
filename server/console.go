package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// What the HTTP edge does for browsers (the web console, internal/console,
// calls the REST API from the browser like any other client):
//
//   - Cross-origin protection: a browser sends a client certificate, and an
//     authenticating proxy's session cookie, with any request a page of
//     another site makes; such a request (a form posted from elsewhere)
//     must not change anything. Non-browser clients send neither
//     Sec-Fetch-Site nor Origin and are unaffected.
//   - A configured header (X-Forwarded-Access-Token, from oauth2-proxy and
//     the like) can carry the bearer token in place of Authorization.
//   - In console read-only mode, mutating RPCs are refused to browsers.

// mdBrowser marks, in-process, a REST request sent by a browser (it
// carried Sec-Fetch-Site, Sec-Fetch-Mode or Origin).
const mdBrowser = "x-replicad-browser"

// errConsoleReadOnly refuses a mutating RPC from a browser when the
// console is read-only.
var errConsoleReadOnly = errors.New("the web console on this server is read-only (--ui-read-only): changes are refused from a browser; use replictl or the API")

// browserRequest reports whether a request came from a browser's fetch or
// form: every current browser sends Sec-Fetch-* on them, and Origin on
// every POST.
func browserRequest(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Sec-Fetch-Mode") != "" || r.Header.Get("Origin") != ""
}

// withBearerHeader copies a token from header into Authorization when the
// request has none: an authenticating proxy in front of the console
// forwards the user's access token that way. The token is checked exactly
// as any bearer token is; a client that can set the header could as well
// set Authorization, so it grants nothing more.
func withBearerHeader(header string, next http.Handler) http.Handler {
	if header == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := strings.TrimSpace(r.Header.Get(header)); tok != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(tok, "Bearer "))
		}
		next.ServeHTTP(w, r)
	})
}

// withCrossOriginProtection refuses unsafe (non-GET/HEAD/OPTIONS) requests
// that a browser marks as coming from another origin. The refusal is
// google.rpc.Status JSON like every other API error.
func withCrossOriginProtection(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"code":    7, // PERMISSION_DENIED
			"message": "cross-origin request refused: a page of another site may not change anything here",
			"details": []any{},
		})
	}))
	return p.Handler(next)
}

// readMethods are the RPCs a read-only console may still call: every
// GET-bound RPC of every replicad.v1 service (whichever file declares it),
// and the POSTs that change nothing: VerifyAudit and the policy plan.
// Anything else (a new mutating RPC included) is refused by default.
func readMethods() map[string]bool {
	out := map[string]bool{
		"/replicad.v1.AuditService/VerifyAudit":            true,
		"/replicad.v1.PolicyService/PlanReplicationPolicy": true,
	}
	protoregistry.GlobalFiles.RangeFilesByPackage("replicad.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				if rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule); rule != nil {
					if verb, _ := httpPattern(rule); verb == http.MethodGet {
						out["/"+string(svc.FullName())+"/"+string(m.Name())] = true
					}
				}
			}
		}
		return true
	})
	return out
}

// consoleReadOnlyUnary refuses, in console read-only mode, every RPC that
// may change something when a browser sent it over REST. It runs inside
// audit and authentication, so the refusal is audited with the caller.
// This is a property of the console, not an access control: the policy
// decides what a caller may do, whatever client it uses.
func consoleReadOnlyUnary(errs errorMapper) grpc.UnaryServerInterceptor {
	reads := readMethods()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if CallerFrom(ctx).Transport == TransportREST && !reads[info.FullMethod] && fromBrowser(ctx) {
			return nil, errs.toStatus(ctx, errConsoleReadOnly)
		}
		return handler(ctx, req)
	}
}

func fromBrowser(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(mdBrowser)) > 0
}
