package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// Both OpenAPI documents are served with a real title and version; the
// OpenAPI 3 one parses and validates as OpenAPI 3, states the two ways to
// authenticate, and lists every RPC's REST binding.
func TestOpenAPIDocuments(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	ctx := context.Background()
	for _, path := range []string{"/openapi.v3.yaml", "/openapi.v3.json"} {
		code, body := env.REST(t, "GET", path, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(body)
		if err != nil {
			t.Fatalf("%s does not parse as OpenAPI 3: %v", path, err)
		}
		if err := doc.Validate(ctx); err != nil {
			t.Errorf("%s is not valid OpenAPI 3: %v", path, err)
		}
		if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Info.Title != "replicad" || doc.Info.Version != "v1" {
			t.Errorf("%s: openapi %q, title %q, version %q", path, doc.OpenAPI, doc.Info.Title, doc.Info.Version)
		}
		schemes := doc.Components.SecuritySchemes
		if b := schemes["bearer"]; b == nil || b.Value.Type != "http" || b.Value.Scheme != "bearer" || b.Value.BearerFormat != "JWT" {
			t.Errorf("%s: no bearer JWT security scheme: %+v", path, b)
		}
		if m := schemes["mutualTLS"]; m == nil || m.Value.Type != "mutualTLS" {
			t.Errorf("%s: no mutual TLS security scheme", path)
		}
		for _, rpc := range restBindings(t) {
			item := doc.Paths.Find(rpc.path)
			if item == nil || item.GetOperation(rpc.verb) == nil {
				t.Errorf("%s lacks %s %s (%s)", path, rpc.verb, rpc.path, rpc.method)
			}
		}
	}
	_, v2 := env.REST(t, "GET", "/openapi.json", nil)
	var swagger struct {
		Info struct{ Title, Version string } `json:"info"`
	}
	if err := json.Unmarshal(v2, &swagger); err != nil || swagger.Info.Title != "replicad" || swagger.Info.Version != "v1" {
		t.Errorf("openapi.json info: %+v (%v)", swagger.Info, err)
	}
}

type binding struct{ method, verb, path string }

// restBindings reads every RPC's google.api.http option from the protos.
func restBindings(t *testing.T) []binding {
	t.Helper()
	var out []binding
	for _, fd := range []protoreflect.FileDescriptor{replicadv1.File_replicad_v1_replication_proto, replicadv1.File_replicad_v1_audit_proto, replicadv1.File_replicad_v1_policy_proto} {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				rule := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				b := binding{method: string(m.FullName())}
				switch p := rule.GetPattern().(type) {
				case *annotations.HttpRule_Get:
					b.verb, b.path = http.MethodGet, p.Get
				case *annotations.HttpRule_Post:
					b.verb, b.path = http.MethodPost, p.Post
				case *annotations.HttpRule_Patch:
					b.verb, b.path = http.MethodPatch, p.Patch
				case *annotations.HttpRule_Delete:
					b.verb, b.path = http.MethodDelete, p.Delete
				default:
					t.Fatalf("%s: unexpected binding %v", m.FullName(), rule)
				}
				out = append(out, b)
			}
		}
	}
	if len(out) < 9 {
		t.Fatalf("only %d REST bindings found", len(out))
	}
	return out
}
