package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/testenv"
)

// breakGlassCanary is the break-glass token: it must never be logged or
// audited.
const breakGlassCanary = "glass-canary-7f3a9c"

func approvalPolicy() string {
	sum := sha256.Sum256([]byte(breakGlassCanary))
	return `version: 1
rules:
  - name: ops
    effect: allow
    groups: [ops]
    actions: ["*"]
    secrets: ["**"]
  - name: app-reads
    effect: allow
    principals: ["spiffe://test/app"]
    actions: [status, operations.read]
    secrets: ["**"]
approvals:
  - name: promote-prod
    actions: [promote, failover]
    secrets: ["prod/**"]
    approvers: [dr-approvers]
    expires_after: 1h
    break_glass_sha256: [` + hex.EncodeToString(sum[:]) + `]
  - name: promote-brief
    actions: [promote]
    secrets: ["brief/**"]
    approvers: [dr-approvers]
    expires_after: 1s
`
}

// replicatedSecret creates name in us-east-1 with an InSync replica in
// eu-west-1 on the stand-in.
func replicatedSecret(t *testing.T, awsURL, name string) {
	t.Helper()
	ctx := context.Background()
	sm := testenv.SecretsManager(awsURL, "us-east-1")
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-west-1")}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ReplicationStatus) == 1 && out.ReplicationStatus[0].Status == smtypes.StatusTypeInSync {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: replica never InSync", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTwoPersonApproval(t *testing.T) {
	t.Parallel()
	_, awsURL := standinURL(t)
	pki := authtest.NewPKI(t)
	issuer := authtest.NewIssuer(t, pki.Dir, "https://idp.test", "replicad")
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(approvalPolicy()), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	env := testenv.Start(t, testenv.Options{
		AWSEndpoint: awsURL,
		ClientTLS:   pki.ClientTLS(t, "spiffe://test/app"),
		Logs:        logs,
		Configure: func(c *daemon.Config) {
			c.InsecureDev = false
			c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
			c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
			c.PolicyFile = policyFile
			c.Engine.ApprovalSweep = 50 * time.Millisecond
		},
	})
	s := &secured{env: env, pki: pki, issuer: issuer}
	ctx := context.Background()
	aliceTok := issuer.Token(t, "alice", []string{"ops", "dr-approvers"}, nil)
	bobTok := issuer.Token(t, "bob", []string{"ops", "dr-approvers"}, nil)
	carolTok := issuer.Token(t, "carol", []string{"ops"}, nil)
	alice, bob, carol := s.bearerClient(t, aliceTok), s.bearerClient(t, bobTok), s.bearerClient(t, carolTok)
	rest := testenv.HTTPClient(pki.ClientTLS(t, ""))
	for _, n := range []string{"prod/a", "prod/b", "prod/c", "prod/d", "brief/e", "dev/f"} {
		replicatedSecret(t, awsURL, n)
	}

	awaiting := func(t *testing.T, op *replicadv1.Operation) {
		t.Helper()
		if op.GetState() != replicadv1.OperationState_OPERATION_STATE_AWAITING_APPROVAL {
			t.Fatalf("operation is %s, want AWAITING_APPROVAL", op.GetState())
		}
		a := op.GetApproval()
		if a.GetRequester() != "alice" || strings.Join(a.GetApproverGroups(), ",") != "dr-approvers" || a.GetBreakGlass() ||
			a.GetExpireTime().AsTime().Before(op.GetCreateTime().AsTime()) {
			t.Errorf("approval %v", a)
		}
	}
	refused := func(t *testing.T, err error, code codes.Code, text string) {
		t.Helper()
		if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), text) {
			t.Errorf("%v, want %s mentioning %q", err, code, text)
		}
	}

	// Requested over gRPC: self-approval refused, a non-approver refused,
	// a second approver releases it over REST, and it runs.
	resp, err := alice.Promote(ctx, &replicadv1.PromoteRequest{SecretId: "prod/a", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	a := resp.GetOperation()
	awaiting(t, a)
	_, err = alice.ApproveOperation(ctx, &replicadv1.ApproveOperationRequest{Id: a.GetId()})
	refused(t, err, codes.PermissionDenied, "cannot approve their own")
	_, err = carol.ApproveOperation(ctx, &replicadv1.ApproveOperationRequest{Id: a.GetId()})
	refused(t, err, codes.PermissionDenied, "approver groups")
	code, body := env.RESTAs(t, rest, bobTok, "POST", "/v1/operations/"+a.GetId()+":approve", `{}`)
	if code != http.StatusOK {
		t.Fatalf("REST approve: %d %s", code, body)
	}
	done := env.WaitOperation(t, a.GetId(), 30*time.Second)
	if done.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED ||
		len(done.GetApproval().GetApprovers()) != 1 || done.GetApproval().GetApprovers()[0].GetPrincipal() != "bob" {
		t.Errorf("approved operation: %v", protojson.Format(done))
	}
	_, err = bob.ApproveOperation(ctx, &replicadv1.ApproveOperationRequest{Id: a.GetId()})
	refused(t, err, codes.FailedPrecondition, "not awaiting approval")

	// Requested over REST: self-approval refused over REST, approved over gRPC.
	code, body = env.RESTAs(t, rest, aliceTok, "POST", "/v1/secrets/prod%2Fb/replicas/eu-west-1:promote", `{}`)
	if code != http.StatusOK {
		t.Fatalf("REST promote: %d %s", code, body)
	}
	var pr replicadv1.PromoteResponse
	if err := protojson.Unmarshal(body, &pr); err != nil {
		t.Fatal(err)
	}
	b := pr.GetOperation()
	awaiting(t, b)
	code, body = env.RESTAs(t, rest, aliceTok, "POST", "/v1/operations/"+b.GetId()+":approve", `{}`)
	if code != http.StatusForbidden || !strings.Contains(string(body), "SELF_APPROVAL") {
		t.Errorf("REST self-approval: %d %s, want 403 SELF_APPROVAL", code, body)
	}
	if _, err := bob.ApproveOperation(ctx, &replicadv1.ApproveOperationRequest{Id: b.GetId()}); err != nil {
		t.Fatal(err)
	}
	if op := env.WaitOperation(t, b.GetId(), 30*time.Second); op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Errorf("approved over gRPC: %s", op.GetState())
	}

	// Visible and cancellable while it waits.
	resp, err = alice.Promote(ctx, &replicadv1.PromoteRequest{SecretId: "prod/c", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	c := resp.GetOperation()
	list, err := carol.ListOperations(ctx, &replicadv1.ListOperationsRequest{State: replicadv1.OperationState_OPERATION_STATE_AWAITING_APPROVAL})
	if err != nil || len(list.GetOperations()) != 1 || list.GetOperations()[0].GetId() != c.GetId() {
		t.Errorf("listing AWAITING_APPROVAL: %v %v", list, err)
	}
	if cr, err := carol.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: c.GetId()}); err != nil ||
		cr.GetOperation().GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED {
		t.Errorf("cancel while awaiting approval: %v %v", cr, err)
	}

	// Expiry cancels, with the reason.
	resp, err = alice.Promote(ctx, &replicadv1.PromoteRequest{SecretId: "brief/e", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	e := resp.GetOperation()
	awaiting(t, e)
	expired := env.WaitOperation(t, e.GetId(), 30*time.Second)
	if expired.GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED ||
		!strings.Contains(expired.GetError().GetMessage(), "approval expired") {
		t.Errorf("expired operation: %s %v", expired.GetState(), expired.GetError())
	}
	_, err = bob.ApproveOperation(ctx, &replicadv1.ApproveOperationRequest{Id: e.GetId()})
	refused(t, err, codes.FailedPrecondition, "not awaiting approval")

	// Secrets no approvals entry names run at once.
	resp, err = alice.Promote(ctx, &replicadv1.PromoteRequest{SecretId: "dev/f", Region: "eu-west-1"})
	if err != nil || resp.GetOperation().GetApproval() != nil || resp.GetOperation().GetState() == replicadv1.OperationState_OPERATION_STATE_AWAITING_APPROVAL {
		t.Errorf("unguarded promote: %v %v", resp, err)
	}

	// Break-glass over gRPC: runs without approval; a wrong token does not.
	glass := metadata.AppendToOutgoingContext(ctx, "x-replicad-break-glass", "wrong-token")
	resp, err = alice.Promote(glass, &replicadv1.PromoteRequest{SecretId: "prod/d", Region: "eu-west-1"})
	if err != nil || resp.GetOperation().GetState() != replicadv1.OperationState_OPERATION_STATE_AWAITING_APPROVAL {
		t.Fatalf("wrong break-glass token: %v %v", resp, err)
	}
	if _, err := alice.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: resp.GetOperation().GetId()}); err != nil {
		t.Fatal(err)
	}
	glass = metadata.AppendToOutgoingContext(ctx, "x-replicad-break-glass", breakGlassCanary)
	resp, err = alice.Promote(glass, &replicadv1.PromoteRequest{SecretId: "prod/d", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetOperation()
	if !d.GetApproval().GetBreakGlass() || d.GetState() == replicadv1.OperationState_OPERATION_STATE_AWAITING_APPROVAL {
		t.Errorf("break-glass operation: %v", protojson.Format(d))
	}
	if op := env.WaitOperation(t, d.GetId(), 30*time.Second); op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Errorf("break-glass operation ended %s", op.GetState())
	}

	// Break-glass over REST (the header), on a guarded secret whose
	// replica was promoted already: it runs, and fails at AWS, unapproved.
	req, _ := http.NewRequest("POST", env.BaseURL+"/v1/secrets/prod%2Fc/replicas/eu-west-1:promote", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Replicad-Break-Glass", breakGlassCanary)
	hr, err := rest.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rp replicadv1.PromoteResponse
	var raw strings.Builder
	_, _ = io.Copy(&raw, hr.Body)
	_ = hr.Body.Close()
	if hr.StatusCode != http.StatusOK || protojson.Unmarshal([]byte(raw.String()), &rp) != nil || !rp.GetOperation().GetApproval().GetBreakGlass() {
		t.Errorf("REST break-glass: %d %s", hr.StatusCode, raw.String())
	}

	// Everything audited: request, refusals, grants, expiry, break-glass.
	want := map[string]string{
		a.GetId(): "approval.requested approval.refused approval.refused approval.granted approval.refused",
		b.GetId(): "approval.requested approval.refused approval.granted",
		e.GetId(): "approval.requested approval.expired approval.refused",
		d.GetId(): "approval.break_glass",
	}
	deadline := time.Now().Add(20 * time.Second)
	for id, methods := range want {
		for {
			var got string
			err := env.DB.QueryRow(ctx, `SELECT coalesce(string_agg(method, ' ' ORDER BY seq), '') FROM audit_events
				WHERE operation_id = $1 AND kind IN ('approval', 'break_glass')`, id).Scan(&got)
			if err != nil {
				t.Fatal(err)
			}
			if got == methods {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("operation %s: audited %q, want %q", id, got, methods)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var breakGlassKind int
	if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = 'break_glass'`).Scan(&breakGlassKind); err != nil || breakGlassKind != 2 {
		t.Errorf("break_glass events: %d %v, want 2", breakGlassKind, err)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"BREAK-GLASS`) {
		t.Error("break-glass was not logged at WARN")
	}
	var leaks int
	if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE body LIKE '%' || $1 || '%'`, breakGlassCanary).Scan(&leaks); err != nil || leaks != 0 {
		t.Errorf("break-glass token in %d audit rows (%v)", leaks, err)
	}
	if strings.Contains(logs.String(), breakGlassCanary) {
		t.Error("break-glass token in the logs")
	}
}
