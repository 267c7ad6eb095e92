package policytest_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type fixture struct {
	env      *testenv.Env
	sm       *standin.Server
	endpoint string
	policies replicadv1.PolicyServiceClient
	inv      *store.Store
}

// start runs replicad against a fresh stand-in, reconciling every 100 ms
// with a write budget generous enough for a test fleet.
func start(t *testing.T, configure ...func(*daemon.Config)) *fixture {
	t.Helper()
	return startWith(t, standin.Options{}, nil, configure...)
}

// startWith is start with the stand-in's options and a writer for the
// daemon's logs.
func startWith(t *testing.T, opts standin.Options, logs io.Writer, configure ...func(*daemon.Config)) *fixture {
	t.Helper()
	sm, endpoint := smtest.Serve(t, opts)
	env := testenv.Start(t, testenv.Options{AWSEndpoint: endpoint, Logs: logs, Configure: func(c *daemon.Config) {
		c.Engine.ReconcileInterval = 100 * time.Millisecond
		c.Engine.PolicyRetryBackoff = time.Hour
		c.AWS.WriteRate = 400
		c.AWS.ReadRate = 2000
		for _, f := range configure {
			f(c)
		}
	}})
	return &fixture{env: env, sm: sm, endpoint: endpoint, policies: replicadv1.NewPolicyServiceClient(env.Conn), inv: store.New(nil)}
}

// kmsKey creates a KMS key with alias in account's region of the
// stand-in (account "" is its default): a policy's aliases must exist in
// their Regions.
func (f *fixture) kmsKey(t *testing.T, account, region, alias string) string {
	t.Helper()
	_, arn, err := f.sm.CreateKMSKey(account, region, alias)
	if err != nil {
		t.Fatalf("CreateKMSKey %s in %s: %v", alias, region, err)
	}
	return arn
}

func (f *fixture) client(region string) *secretsmanager.Client {
	return testenv.SecretsManager(f.endpoint, region)
}

// seed creates a secret as a user would have, and records it in the
// inventory as the scanner would (until the scanner lands on this branch,
// the inventory is written here from DescribeSecret).
func (f *fixture) seed(t *testing.T, region, name string, tags map[string]string) string {
	t.Helper()
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("not-a-real-secret")}
	for k, v := range tags {
		in.Tags = append(in.Tags, smtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := f.client(region).CreateSecret(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateSecret %s in %s: %v", name, region, err)
	}
	arn := aws.ToString(out.ARN)
	f.record(t, region, arn, tags)
	return arn
}

// record stores the secret's current DescribeSecret reading in the
// inventory.
func (f *fixture) record(t *testing.T, region, arn string, tags map[string]string) {
	t.Helper()
	sent := time.Now()
	d, err := f.client(region).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatalf("DescribeSecret: %v", err)
	}
	id, err := secretid.Parse(arn)
	if err != nil {
		t.Fatal(err)
	}
	sec := domain.InventorySecret{Account: id.Account, Region: region, ARN: arn, Name: aws.ToString(d.Name),
		Tags: tags, Deleted: d.DeletedDate != nil, ReadAt: sent, LastSeen: sent}
	for _, r := range d.ReplicationStatus {
		sec.Replicas = append(sec.Replicas, domain.Replica{Region: aws.ToString(r.Region), KMSKeyID: aws.ToString(r.KmsKeyId),
			Status: domain.ReplicationStatus(r.Status), StatusMessage: aws.ToString(r.StatusMessage)})
	}
	if _, err := f.inv.UpsertInventory(context.Background(), f.env.DB, sec); err != nil {
		t.Fatal(err)
	}
}

// status reads a policy's status over gRPC.
func (f *fixture) status(t *testing.T, name string) *replicadv1.ReplicationPolicyStatus {
	t.Helper()
	resp, err := f.policies.GetReplicationPolicyStatus(context.Background(), &replicadv1.GetReplicationPolicyStatusRequest{Name: name})
	if err != nil {
		t.Fatalf("GetReplicationPolicyStatus(%s): %v", name, err)
	}
	return resp.GetStatus()
}

// restStatus reads a policy's status over REST.
func (f *fixture) restStatus(t *testing.T, name string) *replicadv1.ReplicationPolicyStatus {
	t.Helper()
	code, body := f.env.REST(t, "GET", "/v1/policies/"+name+"/status", nil)
	if code != 200 {
		t.Fatalf("GET status: %d %s", code, body)
	}
	var resp replicadv1.GetReplicationPolicyStatusResponse
	if err := protojson.Unmarshal(body, &resp); err != nil {
		t.Fatalf("decode status: %v: %s", err, body)
	}
	return resp.GetStatus()
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last: %s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reconciledRounds waits until the policy has been reconciled n more times
// from now: what a test must wait for before asserting that nothing
// happened.
func (f *fixture) reconciledRounds(t *testing.T, name string, n int) {
	t.Helper()
	for range n {
		var before time.Time
		if err := f.env.DB.QueryRow(context.Background(), `SELECT coalesce(reconciled_at, 'epoch') FROM replication_policies WHERE name = $1`, name).Scan(&before); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "a reconciliation round", func() (bool, string) {
			var now time.Time
			if err := f.env.DB.QueryRow(context.Background(), `SELECT coalesce(reconciled_at, 'epoch') FROM replication_policies WHERE name = $1`, name).Scan(&now); err != nil {
				t.Fatal(err)
			}
			return now.After(before), now.String()
		})
	}
}

// policyOps lists the operations a policy created, from the database.
func (f *fixture) policyOps(t *testing.T, name string) []struct {
	Key, Kind, State string
	Force            bool
} {
	t.Helper()
	rows, err := f.env.DB.Query(context.Background(), `SELECT secret_key, kind, state, force FROM operations WHERE origin_policy = $1 ORDER BY seq`, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []struct {
		Key, Kind, State string
		Force            bool
	}
	for rows.Next() {
		var o struct {
			Key, Kind, State string
			Force            bool
		}
		if err := rows.Scan(&o.Key, &o.Kind, &o.State, &o.Force); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
