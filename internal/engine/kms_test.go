package engine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// kmsAccount is the stand-in's account in these tests: it must never show
// in clear in an operation (kms_key_id is REDACTION_ARN_ACCOUNT).
const kmsAccount = "565656565656"

func replicaKey(t *testing.T, endpoint, arn, region string) string {
	t.Helper()
	for _, r := range describe(t, endpoint, "us-east-1", arn).ReplicationStatus {
		if aws.ToString(r.Region) == region {
			return aws.ToString(r.KmsKeyId)
		}
	}
	t.Fatalf("no replica in %s", region)
	return ""
}

func replicateREST(t *testing.T, env *testenv.Env, name, body string) *replicadv1.Operation {
	t.Helper()
	status, out := env.REST(t, http.MethodPost, "/v1/secrets/"+strings.ReplaceAll(name, "/", "%2F")+":replicate", body)
	if status != http.StatusOK {
		t.Fatalf("replicate: %d %s", status, out)
	}
	var rep replicadv1.ReplicateResponse
	if err := protojson.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	return env.WaitOperation(t, rep.GetOperation().GetId(), 30*time.Second)
}

func replicateGRPC(t *testing.T, env *testenv.Env, req *replicadv1.ReplicateRequest) *replicadv1.Operation {
	t.Helper()
	rep, err := env.Client.Replicate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return env.WaitOperation(t, rep.GetOperation().GetId(), 30*time.Second)
}

func mutatingCalls(op *replicadv1.Operation) []string {
	var out []string
	for _, c := range op.GetAwsCalls() {
		if c.GetApi() != "DescribeSecret" {
			out = append(out, c.GetApi())
		}
	}
	return out
}

// Issue 12 item 11: a Replicate to a Region whose replica is under another
// KMS key used to answer SUCCEEDED with SKIPPED "already an InSync replica",
// the key unchanged. It is FAILED_PRECONDITION naming both keys (redacted),
// with nothing sent to AWS but reads; the same key, in a form provably the
// same, is still a no-op.
func TestKMSKeyMismatchIsRefused(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{AccountID: kmsAccount})
	env := start(t, endpoint)
	name := uniqueName("kms/mismatch")
	arn := seedSecret(t, endpoint, "us-east-1", name)
	keyID := "1234abcd-12ab-34cd-56ef-1234567890ab"
	keyARN := "arn:aws:kms:eu-west-3:" + kmsAccount + ":key/" + keyID

	first := replicateGRPC(t, env, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{
		{Region: "eu-west-3", KmsKeyId: keyARN}, {Region: "us-west-2", KmsKeyId: "alias/west"}}})
	if first.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("first Replicate: %v", protojson.Format(first))
	}

	// The same keys, one as a bare key id of the ARN's key: provably the
	// same, so skipped.
	same := replicateREST(t, env, name, `{"regions": [{"region": "eu-west-3", "kms_key_id": "`+keyID+`"}, {"region": "us-west-2", "kms_key_id": "alias/west"}]}`)
	if same.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || len(mutatingCalls(same)) != 0 {
		t.Fatalf("re-replicating under the same keys: %v", protojson.Format(same))
	}
	for _, r := range same.GetRegions() {
		if r.GetState() != replicadv1.RegionState_REGION_STATE_SKIPPED || !strings.Contains(r.GetMessage(), "under the requested KMS key") {
			t.Errorf("region %s: %v %q", r.GetRegion(), r.GetState(), r.GetMessage())
		}
	}

	for _, tc := range []struct {
		name string
		run  func() *replicadv1.Operation
		// have and want are the keys the error must name.
		have, want string
	}{
		{"gRPC, the managed key asked for", func() *replicadv1.Operation {
			return replicateGRPC(t, env, &replicadv1.ReplicateRequest{SecretId: arn, Regions: []*replicadv1.ReplicaRegion{{Region: "us-west-2"}, {Region: "ap-south-1"}}})
		}, "alias/west", "alias/aws/secretsmanager"},
		{"REST, an alias where the replica has a key ARN", func() *replicadv1.Operation {
			return replicateREST(t, env, name, `{"regions": [{"region": "eu-west-3", "kms_key_id": "alias/eu"}]}`)
		}, "key/" + keyID, "alias/eu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.run()
			if op.GetState() != replicadv1.OperationState_OPERATION_STATE_FAILED || op.GetError().GetCode() != 9 {
				t.Fatalf("want FAILED with FAILED_PRECONDITION (9): %v", protojson.Format(op))
			}
			msg := op.GetError().GetMessage()
			if !strings.Contains(msg, tc.have) || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "replace_kms_key") {
				t.Errorf("error %q does not name both keys (%s, %s) and the way out", msg, tc.have, tc.want)
			}
			if n := mutatingCalls(op); len(n) != 0 {
				t.Errorf("mutating AWS calls made: %v", n)
			}
			for _, r := range op.GetRegions() {
				if r.GetState() != replicadv1.RegionState_REGION_STATE_FAILED && r.GetState() != replicadv1.RegionState_REGION_STATE_NOT_ATTEMPTED {
					t.Errorf("region %s ended %v", r.GetRegion(), r.GetState())
				}
			}
			// The caller's own secret_id comes back as given; what the
			// engine wrote must carry the account only as a fingerprint.
			texts := []string{msg}
			for _, r := range op.GetRegions() {
				texts = append(texts, r.GetMessage())
			}
			if all := strings.Join(texts, "\n"); strings.Contains(all, kmsAccount) {
				t.Errorf("the account is in clear in the operation's messages: %s", all)
			}
		})
	}
	if got := replicaKey(t, endpoint, arn, "eu-west-3"); got != keyARN {
		t.Errorf("eu-west-3 key changed to %q", got)
	}
	if got := replicaKey(t, endpoint, arn, "us-west-2"); got != "alias/west" {
		t.Errorf("us-west-2 key changed to %q", got)
	}
	if _, ok := replicaSet(describe(t, endpoint, "us-east-1", arn))["ap-south-1"]; ok {
		t.Error("ap-south-1 was replicated by a refused operation")
	}
}

// replace_kms_key removes and re-adds the replica, saying so in the Region's
// message and in the AWS calls; over REST and gRPC.
func TestKMSKeyReplace(t *testing.T) {
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{AccountID: kmsAccount, ReplicationDelay: 100 * time.Millisecond})
	env := start(t, endpoint)
	name := uniqueName("kms/replace")
	arn := seedSecret(t, endpoint, "us-east-1", name)
	if op := replicateGRPC(t, env, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: "alias/one"}}}); op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("first Replicate: %v", protojson.Format(op))
	}

	check := func(t *testing.T, op *replicadv1.Operation, from, to string) {
		t.Helper()
		if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
			t.Fatalf("replace: %v", protojson.Format(op))
		}
		if got := strings.Join(mutatingCalls(op), ","); got != "RemoveRegionsFromReplication,ReplicateSecretToRegions" {
			t.Errorf("mutating calls %s, want the removal then the re-add", got)
		}
		r := op.GetRegions()[0]
		if r.GetState() != replicadv1.RegionState_REGION_STATE_SUCCEEDED || !strings.Contains(r.GetMessage(), "KMS key replaced") ||
			!strings.Contains(r.GetMessage(), from) || !strings.Contains(r.GetMessage(), to) {
			t.Errorf("region row %v %q", r.GetState(), r.GetMessage())
		}
		if got := replicaKey(t, endpoint, arn, "eu-west-3"); got != to {
			t.Errorf("replica key %q, want %q", got, to)
		}
	}
	t.Run("REST", func(t *testing.T) {
		op := replicateREST(t, env, name, `{"regions": [{"region": "eu-west-3", "kms_key_id": "alias/two"}], "replace_kms_key": true}`)
		check(t, op, "alias/one", "alias/two")
	})
	t.Run("gRPC", func(t *testing.T) {
		op := replicateGRPC(t, env, &replicadv1.ReplicateRequest{SecretId: arn, ReplaceKmsKey: true,
			Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: "alias/three"}}})
		check(t, op, "alias/two", "alias/three")
	})
	t.Run("nothing to replace", func(t *testing.T) {
		op := replicateGRPC(t, env, &replicadv1.ReplicateRequest{SecretId: arn, ReplaceKmsKey: true,
			Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: "alias/three"}}})
		if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || len(mutatingCalls(op)) != 0 ||
			op.GetRegions()[0].GetState() != replicadv1.RegionState_REGION_STATE_SKIPPED {
			t.Errorf("replace under the key it has: %v", protojson.Format(op))
		}
	})
}

// failingReplicate answers InternalServiceError to the next n
// ReplicateSecretToRegions requests, passing everything else on.
type failingReplicate struct {
	next http.Handler
	n    atomic.Int32
}

func (f *failingReplicate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ReplicateSecretToRegions") && f.n.Add(-1) >= 0 {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"InternalServiceError","message":"injected"}`))
		return
	}
	f.next.ServeHTTP(w, r)
}

// An execution that removed the old replica and then failed to re-add it
// is resumed by the next one with the re-add alone: it never removes again.
func TestKMSKeyReplaceResumesAfterTheRemoval(t *testing.T) {
	t.Parallel()
	sm, err := standin.New(standin.Options{AccountID: kmsAccount})
	if err != nil {
		t.Fatal(err)
	}
	fail := &failingReplicate{next: sm}
	srv := httptest.NewServer(fail)
	t.Cleanup(srv.Close)
	endpoint := srv.URL
	env := start(t, endpoint, func(c *daemon.Config) {
		c.AWS.MaxAttempts = 1
		c.Engine.Queue.RetryBase = 50 * time.Millisecond
		c.Engine.Queue.RetryMax = 100 * time.Millisecond
	})
	name := uniqueName("kms/resume")
	arn := seedSecret(t, endpoint, "us-east-1", name)
	if op := replicateGRPC(t, env, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: "alias/one"}}}); op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("first Replicate: %v", protojson.Format(op))
	}
	fail.n.Store(1)
	op := replicateREST(t, env, name, `{"regions": [{"region": "eu-west-3", "kms_key_id": "alias/two"}], "replace_kms_key": true}`)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || op.GetAttempts() < 2 {
		t.Fatalf("replace with a failed re-add: %v", protojson.Format(op))
	}
	want := "RemoveRegionsFromReplication,ReplicateSecretToRegions,ReplicateSecretToRegions"
	if got := strings.Join(mutatingCalls(op), ","); got != want {
		t.Errorf("mutating calls %s, want %s", got, want)
	}
	if got := replicaKey(t, endpoint, arn, "eu-west-3"); got != "alias/two" {
		t.Errorf("replica key %q, want alias/two", got)
	}
}

// moto ignores KmsKeyId: every replica it makes is under the AWS managed
// key. The engine copes: a replica it finds under another key than asked
// is a FAILED Region that says so, never a success, and a replacement is
// tried once, not in a loop.
func TestKMSKeyIgnoredByMoto(t *testing.T) {
	t.Parallel()
	endpoint := moto.Start(t).URL
	env := start(t, endpoint)
	name := uniqueName("kms/moto")
	arn := seedSecret(t, endpoint, "us-east-1", name)

	op := replicateGRPC(t, env, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: "alias/moto-key"}}})
	r := op.GetRegions()[0]
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_FAILED || r.GetState() != replicadv1.RegionState_REGION_STATE_FAILED ||
		!strings.Contains(r.GetMessage(), "alias/aws/secretsmanager") || !strings.Contains(r.GetMessage(), "alias/moto-key") {
		t.Fatalf("a replica made under another key than asked: %v", protojson.Format(op))
	}
	// The case: asking for alias/moto-key where the replica is
	// under the managed key is refused, naming both.
	op = replicateREST(t, env, name, `{"regions": [{"region": "eu-west-3", "kms_key_id": "alias/moto-key"}]}`)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_FAILED || op.GetError().GetCode() != 9 ||
		!strings.Contains(op.GetError().GetMessage(), "alias/aws/secretsmanager") || len(mutatingCalls(op)) != 0 {
		t.Fatalf("mismatch against moto: %v", protojson.Format(op))
	}
	op = replicateREST(t, env, name, `{"regions": [{"region": "eu-west-3", "kms_key_id": "alias/moto-key"}], "replace_kms_key": true}`)
	if got := strings.Join(mutatingCalls(op), ","); got != "RemoveRegionsFromReplication,ReplicateSecretToRegions" {
		t.Errorf("replace against moto made %s, want one removal and one re-add", got)
	}
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_FAILED || !strings.Contains(op.GetRegions()[0].GetMessage(), "did not apply KmsKeyId") {
		t.Errorf("replace against moto: %v", protojson.Format(op))
	}
	if got := replicaSet(describe(t, endpoint, "us-east-1", arn)); got["eu-west-3"] != "InSync" {
		t.Errorf("replicas after the replace: %v", got)
	}
}
