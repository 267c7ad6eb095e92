package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// canaries hands out unique values and remembers them all.
type canaries struct {
	mu   sync.Mutex
	all  []string
	next int
}

// text returns a unique free-text canary.
func (c *canaries) text(kind string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	v := fmt.Sprintf("CANARY%s%04dZQ", strings.ToUpper(kind), c.next)
	c.all = append(c.all, v)
	return v
}

// account returns a unique 12-digit account id canary.
func (c *canaries) account() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e10))
	v := fmt.Sprintf("97%010d", n.Int64())
	c.mu.Lock()
	c.all = append(c.all, v)
	c.mu.Unlock()
	return v
}

// Sensitive values never reach logs, audit rows, error strings or the
// operations table's printable columns, whatever path a request takes. The
// sensitive fields are what the protos declare: reason and label values
// (debug_redact), and the account id inside secret and KMS key ARNs
// (REDACTION_ARN_ACCOUNT). Every RPC is driven over gRPC and REST with
// valid and invalid requests, including ones that fail inside the worker.
func TestCanariesNeverLeak(t *testing.T) {
	t.Parallel()
	c := &canaries{}
	// The stand-in's own account is a canary too: every ARN AWS returns
	// carries it, so any place that records an AWS ARN unredacted shows up.
	awsAccount := c.account()
	sm, err := standin.New(standin.Options{AccountID: awsAccount, ReplicationDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	awsSrv := httptest.NewServer(sm)
	defer awsSrv.Close()
	logs := &testenv.Buffer{}
	env := testenv.Start(t, testenv.Options{AWSEndpoint: awsSrv.URL, Logs: logs})
	ctx := context.Background()
	seeded := map[string]string{}
	for _, name := range []string{"canary/one", "canary/two", "canary/three"} {
		a, err := sm.Seed(ctx, "us-east-1", name, "v")
		if err != nil {
			t.Fatal(err)
		}
		seeded[name] = a
	}
	arn := func(account, name string) string {
		return "arn:aws:secretsmanager:us-east-1:" + account + ":secret:" + name + "-AbCdEf"
	}
	kms := func(region string) string {
		return "arn:aws:kms:" + region + ":" + c.account() + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	}
	labels := func() map[string]string {
		return map[string]string{"ticket": c.text("label"), "change": c.text("label")}
	}

	var errorTexts []string
	record := func(err error) {
		if err != nil {
			errorTexts = append(errorTexts, prototext.Format(status.Convert(err).Proto()))
		}
	}
	rest := func(method, path, body string) {
		code, out := env.REST(t, method, path, body)
		if code >= 300 {
			errorTexts = append(errorTexts, string(out))
		}
	}
	audit := replicadv1.NewAuditServiceClient(env.Conn)

	// Replicate: valid by name (KMS ARN, reason, labels), valid by ARN,
	// invalid in several ways, and failing inside the worker.
	ok1, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "canary/one", Reason: c.text("reason"), Labels: labels(),
		Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1", KmsKeyId: kms("eu-west-1")}, {Region: "eu-west-3"}}})
	record(err)
	kmsTwo := kms("us-west-2")
	code, body := env.REST(t, "POST", "/v1/secrets/"+escape(seeded["canary/two"])+":replicate",
		`{"regions": [{"region": "us-west-2", "kms_key_id": "`+kmsTwo+`"}], "reason": "`+c.text("reason")+`", "labels": {"k": "`+c.text("label")+`"}}`)
	if code != 200 {
		t.Fatalf("REST replicate by ARN: %d %s", code, body)
	}
	okTwo := decodeOperation(t, body)
	if final := env.WaitOperation(t, okTwo.GetId(), 20*time.Second); final.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("replicate by ARN ended %s: %s", final.GetState(), final.GetError().GetMessage())
	}
	_, err = env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: arn(c.account(), "canary/none"), Reason: c.text("reason"), Labels: labels(),
		Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1", KmsKeyId: kms("eu-west-1")}}}) // fails in the worker: no such secret
	record(err)
	_, err = env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "canary/one", Reason: c.text("reason") + strings.Repeat("x", 1100),
		Regions: []*replicadv1.ReplicaRegion{{Region: "nowhere", KmsKeyId: kms("eu-west-2")}}, Labels: map[string]string{"BAD KEY": c.text("label")}})
	record(err)
	rest("POST", "/v1/secrets/canary%2Fone:replicate", `{"regions": [{"region": "eu-west-1", "kms_key_id": "not-a-key"}], "reason": "`+c.text("reason")+`"}`)
	rest("POST", "/v1/secrets/canary%2Fone:replicate", `{"reason": `+c.text("reason")+`}`) // malformed JSON quoting a canary
	rest("POST", "/v1/secrets/bad%20name:replicate", `{"regions": [{"region": "eu-west-1"}], "reason": "`+c.text("reason")+`"}`)

	// Remove and Promote, valid and invalid.
	rm, err := env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: "canary/one", Regions: []string{"eu-west-3"}, Reason: c.text("reason"), Labels: labels()})
	record(err)
	rest("POST", "/v1/secrets/"+escape(seeded["canary/two"])+":removeRegions", `{"regions": ["eu-west-9"], "reason": "`+c.text("reason")+`"}`)
	pro, err := env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: seeded["canary/one"], Region: "eu-west-1", Reason: c.text("reason"), Labels: labels()})
	record(err)
	rest("POST", "/v1/secrets/canary%2Fthree/replicas/eu-west-1:promote", `{"reason": "`+c.text("reason")+`", "labels": {"k": "`+c.text("label")+`"}}`) // not a replica: fails in the worker
	_, err = env.Client.Promote(ctx, &replicadv1.PromoteRequest{SecretId: arn(c.account(), "x"), Region: "mars-1", Reason: c.text("reason")})
	record(err)

	// An ARN-like id cut short after its account (no ":secret:..."): refused,
	// and still redacted wherever it is recorded.
	short := func() string { return "arn:aws:secretsmanager:us-east-1:" + c.account() }
	_, err = env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: short(), Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
	record(err)
	_, err = env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: short()})
	record(err)
	rest("GET", "/v1/secrets/"+escape(short())+"/replication", "")
	rest("POST", "/v1/secrets/"+short()+":replicate", `{"regions": [{"region": "eu-west-1"}]}`)
	rest("GET", "/v1/operations?secret_id="+escape(short()), "")

	// Status, operations and audit reads with ARN canaries, valid and not.
	_, err = env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: seeded["canary/two"]})
	record(err)
	_, err = env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: arn(c.account(), "canary/absent")})
	record(err)
	rest("GET", "/v1/secrets/"+escape(arn(c.account(), "canary/absent"))+"/replication", "")
	_, err = env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{SecretId: arn(c.account(), "canary/one")})
	record(err)
	_, err = env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{PageToken: "junk-token"})
	record(err)
	rest("GET", "/v1/operations?secret_id="+escape(arn(c.account(), "canary/one"))+"&page_size=many", "")
	_, err = env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: "not-an-id"})
	record(err)
	rest("GET", "/v1/operations/not-an-id", "")
	_, err = audit.ListAuditEvents(ctx, &replicadv1.ListAuditEventsRequest{SecretId: arn(c.account(), "canary/one"), Outcome: "MAYBE"})
	record(err)
	rest("GET", "/v1/audit/events?secret_id="+escape(arn(c.account(), "canary/one"))+"&kind=SOMETIMES", "")
	_, err = audit.VerifyAudit(ctx, &replicadv1.VerifyAuditRequest{KnownPosition: 1, KnownHash: "not-hex"})
	record(err)

	// Cancel: a finished operation (refused) and a queued one (accepted).
	ops := []string{ok1.GetOperation().GetId(), rm.GetOperation().GetId(), pro.GetOperation().GetId(), okTwo.GetId()}
	for _, id := range ops {
		env.WaitOperation(t, id, 20*time.Second)
	}
	_, err = env.Client.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: ops[0], Reason: c.text("reason")})
	record(err)
	slow, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "canary/three", Regions: []*replicadv1.ReplicaRegion{{Region: "ap-south-1"}}})
	record(err)
	queued, err := env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: "canary/three", Regions: []string{"ap-south-1"}, Reason: c.text("reason")})
	record(err)
	rest("POST", "/v1/operations/"+queued.GetOperation().GetId()+":cancel", `{"reason": "`+c.text("reason")+`"}`)
	env.WaitOperation(t, slow.GetOperation().GetId(), 20*time.Second)
	waitChained(t, env)

	// Where the canaries must not be.
	_, metricsText := scrape(t, env)
	sinks := map[string]string{
		"logs":    logs.String(),
		"errors":  strings.Join(errorTexts, "\n"),
		"metrics": metricsText,
	}
	for name, q := range map[string]string{
		"audit_events": "SELECT string_agg(t::text, E'\\n') FROM audit_events t",
		"operations": `SELECT string_agg(concat_ws(' ', id, kind, state, secret_key, secret_display, aws_region, regions, force,
			principal, request_id, encode(request_hash, 'hex'), reason_fingerprint, labels, error_code, error_message, aws_calls,
			attempts, job_id, created_at, updated_at, started_at, ended_at), E'\\n') FROM operations`,
		"river_job": "SELECT string_agg(t::text, E'\\n') FROM river_job t",
	} {
		var text *string
		if err := env.DB.QueryRow(ctx, q).Scan(&text); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if text == nil || *text == "" {
			t.Fatalf("%s is empty: the test did not exercise it", name)
		}
		sinks[name] = *text
	}
	for _, must := range []string{"audit_event", "fp-"} {
		if !strings.Contains(sinks["logs"], must) {
			t.Fatalf("logs lack %q: the test did not capture them", must)
		}
	}
	if len(errorTexts) < 15 {
		t.Fatalf("only %d error responses collected", len(errorTexts))
	}
	for name, text := range sinks {
		for _, canary := range c.all {
			if i := strings.Index(text, canary); i >= 0 {
				lo, hi := max(0, i-120), min(len(text), i+len(canary)+40)
				t.Errorf("canary %s leaked into %s: …%s…", canary, name, text[lo:hi])
			}
		}
	}
	// And the operations really happened with the real values: AWS holds
	// the KMS key ARN exactly as the caller sent it.
	if got := env.WaitOperation(t, ok1.GetOperation().GetId(), time.Second); got.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Errorf("the valid Replicate ended %s", got.GetState())
	}
	st, err := env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: "canary/two"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetReplicas()) != 1 || st.GetReplicas()[0].GetKmsKeyId() != kmsTwo {
		t.Errorf("the replica's KMS key at AWS is %v, want the key sent", st.GetReplicas())
	}
}
