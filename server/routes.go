package server

import (
	"net/http"
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// route is one REST binding of an RPC, read from its google.api.http
// option: the same source the gateway is generated from, so the edge's own
// checks (query parameters, refusals before the gateway decodes) cannot
// disagree with the gateway on which path is which RPC.
type route struct {
	verb string
	// template is the path as the proto writes it: /v1/secrets/{secret_id}:replicate.
	template string
	// FullMethod is the gRPC method: /replicad.v1.ReplicationService/Replicate.
	FullMethod string
	// input is the request message; body says whether the request has a
	// body (the fields not in the path), or takes its fields as query
	// parameters.
	input, output protoreflect.MessageDescriptor
	body          bool
	// vars are the path variables, in order; exact matches the path with
	// each variable one segment, loose with a variable spanning segments.
	vars         []string
	exact, loose *regexp.Regexp
}

var templateVarRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// apiRoutes lists the REST routes of every RPC of the API.
func apiRoutes() []route {
	var out []route
	for _, fd := range []protoreflect.FileDescriptor{replicadv1.File_replicad_v1_replication_proto, replicadv1.File_replicad_v1_audit_proto, replicadv1.File_replicad_v1_dr_proto, replicadv1.File_replicad_v1_inventory_proto, replicadv1.File_replicad_v1_policy_proto} {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				verb, tmpl := httpPattern(rule)
				if tmpl == "" {
					continue
				}
				r := route{verb: verb, template: tmpl, FullMethod: "/" + string(svc.FullName()) + "/" + string(m.Name()),
					input: m.Input(), output: m.Output(), body: rule.GetBody() != ""}
				exact, loose := "^", "^"
				last := 0
				for _, loc := range templateVarRE.FindAllStringSubmatchIndex(tmpl, -1) {
					lit := regexp.QuoteMeta(tmpl[last:loc[0]])
					r.vars = append(r.vars, tmpl[loc[2]:loc[3]])
					exact += lit + `([^/]+)`
					loose += lit + `(.+)`
					last = loc[1]
				}
				exact += regexp.QuoteMeta(tmpl[last:]) + "$"
				loose += regexp.QuoteMeta(tmpl[last:]) + "$"
				r.exact, r.loose = regexp.MustCompile(exact), regexp.MustCompile(loose)
				out = append(out, r)
			}
		}
	}
	return out
}

func httpPattern(rule *annotations.HttpRule) (verb, template string) {
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	}
	return "", ""
}

// match finds the route of a request by its escaped path: the variables'
// raw (still percent-encoded) values come with it.
func matchRoute(routes []route, method, escapedPath string) (route, []string, bool) {
	for _, r := range routes {
		if r.verb != method {
			continue
		}
		if m := r.exact.FindStringSubmatch(escapedPath); m != nil {
			return r, m[1:], true
		}
	}
	return route{}, nil, false
}

// looseRoute finds a route the path would match if a variable could span
// several segments: the sign of an id with an unencoded "/".
func looseRoute(routes []route, escapedPath string) (route, bool) {
	for _, r := range routes {
		if r.loose.MatchString(escapedPath) && !r.exact.MatchString(escapedPath) {
			return r, true
		}
	}
	return route{}, false
}

// queryField returns the field a query parameter names, by proto or JSON
// name; nested paths (a.b) are looked up one level at a time.
func queryField(msg protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for _, part := range strings.Split(key, ".") {
		if msg == nil {
			return nil
		}
		fd = msg.Fields().ByName(protoreflect.Name(part))
		if fd == nil {
			fd = msg.Fields().ByJSONName(part)
		}
		if fd == nil {
			return nil
		}
		msg = fd.Message()
	}
	return fd
}

// newMessage returns an empty message of a descriptor's type.
func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(md)
}
