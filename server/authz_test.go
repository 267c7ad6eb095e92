package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/testenv"
)

func TestAuthorization(t *testing.T) {
	t.Parallel()
	s := startSecured(t, nil)
	ctx := context.Background()
	app := s.env.Client // mTLS as spiffe://test/app
	appREST := testenv.HTTPClient(s.pki.ClientTLS(t, "spiffe://test/app"))
	euTok := s.issuer.Token(t, "eu-operator", nil, nil)
	eu := s.bearerClient(t, euTok)
	adminTok := s.issuer.Token(t, "alice", []string{"admins"}, nil)
	admin := s.bearerClient(t, adminTok)
	auditorTok := s.issuer.Token(t, "audrey", []string{"auditors"}, nil)
	noCert := testenv.HTTPClient(s.pki.ClientTLS(t, ""))

	denied := func(t *testing.T, err error, action, resource string) {
		t.Helper()
		msg := status.Convert(err).Message()
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(msg, action) || !strings.Contains(msg, resource) {
			t.Errorf("%v, want PermissionDenied naming %s and %s", err, action, resource)
		}
		for _, rule := range []string{"app-team", "eu-operator", "admins", "nobody-promotes-db"} {
			if strings.Contains(msg, rule) {
				t.Errorf("the refusal reveals the policy (%s): %s", rule, msg)
			}
		}
	}

	// A principal allowed for prod/app/* touching prod/db/x.
	_, err := app.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "prod/db/x", Regions: regions("eu-west-1")})
	denied(t, err, "replicate", "prod/db/x")
	code, body := s.env.RESTAs(t, appREST, "", "POST", "/v1/secrets/prod%2Fdb%2Fx:replicate", `{"regions": [{"region": "eu-west-1"}]}`)
	if code != http.StatusForbidden {
		t.Errorf("REST: %d %s, want 403", code, body)
	}
	appOp, err := app.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "prod/app/x", Regions: regions("us-west-2")})
	if err != nil {
		t.Fatalf("allowed replicate: %v", err)
	}
	if appOp.GetOperation().GetPrincipal() != "spiffe://test/app" {
		t.Errorf("the operation carries principal %q", appOp.GetOperation().GetPrincipal())
	}

	// A principal allowed in eu-west-1 replicating to ap-south-1.
	_, err = eu.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "prod/db/y", Regions: regions("eu-west-1", "ap-south-1")})
	denied(t, err, "replicate", "ap-south-1")
	code, _ = s.env.RESTAs(t, noCert, euTok, "POST", "/v1/secrets/prod%2Fdb%2Fy:replicate", `{"regions": [{"region": "ap-south-1"}]}`)
	if code != http.StatusForbidden {
		t.Errorf("REST eu-operator to ap-south-1: %d, want 403", code)
	}
	euOp, err := eu.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "prod/db/y", Regions: regions("eu-west-1")})
	if err != nil {
		t.Fatalf("eu-operator in eu-west-1: %v", err)
	}
	// Replacing a replica's KMS key removes the replica: it needs the
	// remove right, which eu-operator lacks.
	_, err = eu.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "prod/db/y", Regions: regions("eu-west-1"), ReplaceKmsKey: true})
	denied(t, err, "remove", "prod/db/y")
	code, _ = s.env.RESTAs(t, noCert, euTok, "POST", "/v1/secrets/prod%2Fdb%2Fy:replicate", `{"regions": [{"region": "eu-west-1"}], "replace_kms_key": true}`)
	if code != http.StatusForbidden {
		t.Errorf("REST eu-operator replacing a key: %d, want 403", code)
	}

	// A deny overrides the admins' allow.
	_, err = admin.Promote(ctx, &replicadv1.PromoteRequest{SecretId: "prod/db/primary", Region: "eu-west-1"})
	denied(t, err, "promote", "prod/db/primary")
	code, _ = s.env.RESTAs(t, noCert, adminTok, "POST", "/v1/secrets/prod%2Fdb%2Fprimary/replicas/eu-west-1:promote", `{}`)
	if code != http.StatusForbidden {
		t.Errorf("REST admin promote on prod/db: %d, want 403", code)
	}
	if _, err := admin.Promote(ctx, &replicadv1.PromoteRequest{SecretId: "prod/app/z", Region: "eu-west-1"}); err != nil {
		t.Errorf("admin promote elsewhere: %v", err)
	}

	// Reads show a caller only what the policy lets it read.
	list, err := app.ListOperations(ctx, &replicadv1.ListOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range list.GetOperations() {
		if !strings.HasPrefix(op.GetSecretId(), "prod/app/") {
			t.Errorf("app-team sees an operation on %s", op.GetSecretId())
		}
	}
	if len(list.GetOperations()) != 2 { // its own replicate and the admin's promote
		t.Errorf("app-team sees %d operations, want 2", len(list.GetOperations()))
	}
	if _, err := app.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: euOp.GetOperation().GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("app-team reading a prod/db operation: %v, want NotFound", err)
	}
	if code, _ := s.env.RESTAs(t, appREST, "", "GET", "/v1/operations/"+euOp.GetOperation().GetId(), nil); code != http.StatusNotFound {
		t.Errorf("REST: app-team reading a prod/db operation: %d, want 404", code)
	}
	if _, err := app.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: euOp.GetOperation().GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("app-team cancelling a prod/db operation: %v, want NotFound", err)
	}
	_, err = app.ListOperations(ctx, &replicadv1.ListOperationsRequest{SecretId: "prod/db/y"})
	denied(t, err, "operations.read", "prod/db/y")
	all, err := admin.ListOperations(ctx, &replicadv1.ListOperationsRequest{})
	if err != nil || len(all.GetOperations()) != 3 {
		t.Errorf("admins see %d operations (%v), want 3", len(all.GetOperations()), err)
	}

	// The audit trail is for auditors, and it records the refusals with
	// their principals.
	if code, _ := s.env.RESTAs(t, appREST, "", "GET", "/v1/audit/events", nil); code != http.StatusForbidden {
		t.Errorf("app-team reading the audit trail: %d, want 403", code)
	}
	code, body = s.env.RESTAs(t, noCert, auditorTok, "GET", "/v1/audit/events?outcome=PERMISSION_DENIED&page_size=100", nil)
	if code != http.StatusOK {
		t.Fatalf("auditor: %d %s", code, body)
	}
	var events replicadv1.ListAuditEventsResponse
	if err := protojson.Unmarshal(body, &events); err != nil {
		t.Fatal(err)
	}
	principals := map[string]bool{}
	for _, e := range events.GetEvents() {
		principals[e.GetPrincipal()] = true
	}
	for _, p := range []string{"spiffe://test/app", "eu-operator", "alice"} {
		if !principals[p] {
			t.Errorf("no audited refusal for %s: %v", p, principals)
		}
	}
	if code, _ := s.env.RESTAs(t, noCert, "", "GET", "/v1/operations", nil); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d, want 401", code)
	}
	code, body = s.env.RESTAs(t, noCert, auditorTok, "GET", "/v1/audit/events?outcome=UNAUTHENTICATED", nil)
	if code != http.StatusOK {
		t.Fatalf("auditor: %d %s", code, body)
	}
	events.Reset()
	if err := protojson.Unmarshal(body, &events); err != nil {
		t.Fatal(err)
	}
	if len(events.GetEvents()) != 1 || events.GetEvents()[0].GetPrincipal() != "unauthenticated" || events.GetEvents()[0].GetTransport() != "rest" {
		t.Errorf("audited unauthenticated refusals: %v", events.GetEvents())
	}
}
