package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// seedSecret creates a secret through the SDK, as a user would have.
func seedSecret(t *testing.T, endpoint, region, name string) string {
	t.Helper()
	out, err := testenv.SecretsManager(endpoint, region).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"password":"not-a-real-one"}`),
	})
	if err != nil {
		t.Fatalf("CreateSecret %s in %s: %v", name, region, err)
	}
	return aws.ToString(out.ARN)
}

// seedUncounted creates n secrets named from prefix in the stand-in's
// us-east-1 directly, not through its API, so that only replicad's requests
// count in the stand-in's statistics.
func seedUncounted(t *testing.T, sm *standin.Server, prefix string, n int) []string {
	t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = uniqueName(prefix)
		if _, err := sm.Seed(context.Background(), "us-east-1", names[i], "v"); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// describe returns the secret's replica Regions and statuses, through the SDK.
func describe(t *testing.T, endpoint, region, secretID string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := testenv.SecretsManager(endpoint, region).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatalf("DescribeSecret %s in %s: %v", secretID, region, err)
	}
	return out
}

func replicaSet(out *secretsmanager.DescribeSecretOutput) map[string]string {
	m := map[string]string{}
	for _, r := range out.ReplicationStatus {
		m[aws.ToString(r.Region)] = string(r.Status)
	}
	return m
}

func start(t *testing.T, endpoint string, configure ...func(*daemon.Config)) *testenv.Env {
	t.Helper()
	return testenv.Start(t, testenv.Options{
		AWSEndpoint: endpoint,
		Configure: func(c *daemon.Config) {
			for _, f := range configure {
				f(c)
			}
		},
	})
}

func mustSucceed(t *testing.T, env *testenv.Env, op *replicadv1.Operation) *replicadv1.Operation {
	t.Helper()
	got := env.WaitOperation(t, op.GetId(), 30*time.Second)
	if got.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("operation %s ended %s: %s", got.GetId(), got.GetState(), protojson.Format(got))
	}
	return got
}

func apis(op *replicadv1.Operation) map[string]int {
	m := map[string]int{}
	for _, c := range op.GetAwsCalls() {
		m[c.GetApi()]++
	}
	return m
}
