package engine_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

type backend struct {
	name     string
	endpoint func(t *testing.T) string
	// moto ignores KmsKeyId and does not implement StopReplicationToReplica.
	keepsKMS, promotes bool
}

var backends = []backend{
	{name: "standin", keepsKMS: true, promotes: true, endpoint: func(t *testing.T) string {
		_, url := smtest.Serve(t, standin.Options{ReplicationDelay: 150 * time.Millisecond})
		return url
	}},
	{name: "moto", endpoint: func(t *testing.T) string { return moto.Start(t).URL }},
}

// The whole life of a multi-Region secret through the public API, checked
// against what the AWS SDK then reads from the backend.
func TestReplicationLifecycle(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			endpoint := b.endpoint(t)
			env := start(t, endpoint)
			ctx := context.Background()
			name := uniqueName("app/db")
			arn := seedSecret(t, endpoint, "us-east-1", name)

			// Replicate over REST, by name. moto ignores KmsKeyId, which the
			// engine reports as a failure (TestKMSKeyIgnoredByMoto): ask it
			// for the managed key only.
			key := ""
			if b.keepsKMS {
				key = "alias/replica-key"
			}
			status, body := env.REST(t, http.MethodPost, "/v1/secrets/"+strings.ReplaceAll(name, "/", "%2F")+":replicate",
				`{"regions": [{"region": "eu-west-3", "kms_key_id": "`+key+`"}, {"region": "us-west-2"}], "reason": "DR"}`)
			if status != http.StatusOK {
				t.Fatalf("replicate: %d %s", status, body)
			}
			var rep replicadv1.ReplicateResponse
			if err := protojson.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			op := mustSucceed(t, env, rep.GetOperation())
			if n := apis(op)["ReplicateSecretToRegions"]; n != 1 {
				t.Errorf("ReplicateSecretToRegions called %d times, want 1: %v", n, apis(op))
			}
			for _, c := range op.GetAwsCalls() {
				if c.GetRequestId() == "" {
					t.Errorf("AWS call %s has no request id", c.GetApi())
				}
			}
			out := describe(t, endpoint, "us-east-1", arn)
			if got := replicaSet(out); len(got) != 2 || got["eu-west-3"] != "InSync" || got["us-west-2"] != "InSync" {
				t.Fatalf("after Replicate, replicas = %v", got)
			}
			if b.keepsKMS {
				for _, r := range out.ReplicationStatus {
					if aws.ToString(r.Region) == "eu-west-3" && aws.ToString(r.KmsKeyId) != "alias/replica-key" {
						t.Errorf("eu-west-3 replica KMS key = %q, want alias/replica-key", aws.ToString(r.KmsKeyId))
					}
				}
			}

			// Status over gRPC, by ARN.
			st, err := env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: arn})
			if err != nil {
				t.Fatal(err)
			}
			if st.GetPrimaryRegion() != "us-east-1" || len(st.GetReplicas()) != 2 || len(st.GetRecentOperations()) != 1 {
				t.Errorf("Status = %v", protojson.Format(st))
			}
			for _, r := range st.GetReplicas() {
				if r.GetStatus() != replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC {
					t.Errorf("Status replica %s = %v", r.GetRegion(), r.GetStatus())
				}
			}

			// Replicating to an InSync replica under the same key again is
			// a no-op success.
			again, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: key}}})
			if err != nil {
				t.Fatal(err)
			}
			againOp := mustSucceed(t, env, again.GetOperation())
			if apis(againOp)["ReplicateSecretToRegions"] != 0 || againOp.GetRegions()[0].GetState() != replicadv1.RegionState_REGION_STATE_SKIPPED {
				t.Errorf("re-replicating to an InSync replica called AWS or did not skip: %v", protojson.Format(againOp))
			}

			// Remove over gRPC.
			rm, err := env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: name, Regions: []string{"us-west-2"}})
			if err != nil {
				t.Fatal(err)
			}
			mustSucceed(t, env, rm.GetOperation())
			if got := replicaSet(describe(t, endpoint, "us-east-1", arn)); len(got) != 1 || got["eu-west-3"] != "InSync" {
				t.Fatalf("after Remove, replicas = %v", got)
			}

			if !b.promotes {
				return
			}
			// Promote over REST: the eu-west-3 replica becomes standalone.
			status, body = env.REST(t, http.MethodPost, "/v1/secrets/"+strings.ReplaceAll(name, "/", "%2F")+"/replicas/eu-west-3:promote", `{}`)
			if status != http.StatusOK {
				t.Fatalf("promote: %d %s", status, body)
			}
			var pro replicadv1.PromoteResponse
			if err := protojson.Unmarshal(body, &pro); err != nil {
				t.Fatal(err)
			}
			mustSucceed(t, env, pro.GetOperation())
			if got := replicaSet(describe(t, endpoint, "us-east-1", arn)); len(got) != 0 {
				t.Errorf("after Promote, the primary still lists replicas %v", got)
			}
			if promoted := describe(t, endpoint, "eu-west-3", name); aws.ToString(promoted.PrimaryRegion) != "eu-west-3" && aws.ToString(promoted.PrimaryRegion) != "" {
				t.Errorf("promoted secret's primary Region = %q, want eu-west-3", aws.ToString(promoted.PrimaryRegion))
			}
		})
	}
}

var _ = testenv.Terminal
