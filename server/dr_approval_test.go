package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// A failover of prod/** secrets is a break-glass act: it waits for a
// second person (the policy's failover approval), the requester cannot
// approve it, nothing is promoted before approval, and once approved over
// REST it runs; every step of the approval is audited.
func TestFailoverNeedsApproval(t *testing.T) {
	t.Parallel()
	sm, awsURL := standinURL(t)
	pki := authtest.NewPKI(t)
	issuer := authtest.NewIssuer(t, pki.Dir, "https://idp.test", "replicad")
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(approvalPolicy()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testenv.Start(t, testenv.Options{
		AWSEndpoint: awsURL,
		ClientTLS:   pki.ClientTLS(t, "spiffe://test/app"),
		Configure: func(c *daemon.Config) {
			c.InsecureDev = false
			c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
			c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
			c.PolicyFile = policyFile
		},
	})
	ctx := context.Background()
	east := testenv.SecretsManager(awsURL, "us-east-1")
	out, err := east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/dr"), SecretString: aws.String("v"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("us-west-2")}}})
	if err != nil {
		t.Fatal(err)
	}
	rj, _ := json.Marshal([]map[string]string{{"region": "us-west-2", "status": "InSync"}})
	if _, err := env.DB.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
		VALUES ('123456789012', 'us-east-1', $1, 'prod/dr', $2, now(), now(), now())`, aws.ToString(out.ARN), rj); err != nil {
		t.Fatal(err)
	}
	if err := sm.SetFaults(standin.Faults{DownRegions: []string{"us-east-1"}}); err != nil {
		t.Fatal(err)
	}
	aliceTok := issuer.Token(t, "alice", []string{"ops", "dr-approvers"}, nil)
	bobTok := issuer.Token(t, "bob", []string{"ops", "dr-approvers"}, nil)
	aliceConn := &tokenConn{env.Dial(t, pki.ClientTLS(t, "")), aliceTok}

	resp, err := replicadv1.NewDisasterRecoveryServiceClient(aliceConn).Failover(ctx, &replicadv1.FailoverRequest{
		SourceRegion: "us-east-1", TargetRegion: "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	op := resp.GetOperation()
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_AWAITING_APPROVAL || op.GetApproval().GetRule() != "promote-prod" {
		t.Fatalf("failover accepted as %s", protojson.Format(op))
	}
	_, err = replicadv1.NewReplicationServiceClient(aliceConn).ApproveOperation(ctx, &replicadv1.ApproveOperationRequest{Id: op.GetId()})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "own") {
		t.Fatalf("self-approval: %v", err)
	}
	if got := sm.Stats().Region("us-west-2").APIs["StopReplicationToReplica"].Requests; got != 0 {
		t.Fatalf("%d promotions before approval", got)
	}
	rest := testenv.HTTPClient(pki.ClientTLS(t, ""))
	code, body := env.RESTAs(t, rest, bobTok, "POST", "/v1/operations/"+op.GetId()+":approve", `{}`)
	if code != 200 {
		t.Fatalf("approve over REST: %d %s", code, body)
	}
	bobConn := &tokenConn{env.Dial(t, pki.ClientTLS(t, "")), bobTok}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := replicadv1.NewReplicationServiceClient(bobConn).GetOperation(ctx, &replicadv1.GetOperationRequest{Id: op.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if op = got.GetOperation(); testenv.Terminal(op.GetState()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approved failover unfinished: %s", protojson.Format(op))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || op.GetDisasterRecovery().GetSucceeded() != 1 {
		t.Fatalf("approved failover ended %s", protojson.Format(op))
	}
	var methods string
	for {
		if err := env.DB.QueryRow(ctx, `SELECT coalesce(string_agg(method, ' ' ORDER BY seq), '') FROM audit_events
			WHERE operation_id = $1 AND kind = 'approval'`, op.GetId()).Scan(&methods); err != nil {
			t.Fatal(err)
		}
		if methods == "approval.requested approval.refused approval.granted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audited %q", methods)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
