package standin_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/replicad/replicad/internal/standin"
)

const (
	primaryRegion = "us-east-1"
	replicaEU     = "eu-west-3"
	replicaAP     = "ap-southeast-2"
	otherRegion   = "us-west-2"
	account       = standin.AccountIDDefault
)

// startStandin serves a fresh stand-in for one test.
func startStandin(t *testing.T, opts standin.Options) (*standin.Server, string) {
	t.Helper()
	srv, err := standin.New(opts)
	if err != nil {
		t.Fatalf("standin.New: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, hs.URL
}

// clients hands out one real SDK client per Region, all pointed at one
// endpoint, signed with static credentials as a test run would be.
type clients struct {
	endpoint string
	noRetry  bool

	mu  sync.Mutex
	byR map[string]*secretsmanager.Client
}

func newClients(endpoint string) *clients {
	return &clients{endpoint: endpoint, byR: map[string]*secretsmanager.Client{}}
}

// newClientsWithoutRetries returns clients that surface every throttle and
// 5xx instead of retrying them, for tests that count them.
func newClientsWithoutRetries(endpoint string) *clients {
	c := newClients(endpoint)
	c.noRetry = true
	return c
}

func (c *clients) in(region string) *secretsmanager.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.byR[region]; cl != nil {
		return cl
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTANDINTEST", "not-a-secret", ""),
	}
	if c.noRetry {
		cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	}
	cl := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String(c.endpoint)
	})
	c.byR[region] = cl
	return cl
}

// uniqueName keeps tests that share a backend (moto) apart.
func uniqueName(base string) string {
	return "conformance/" + base + "-" + strings.ToLower(rand.Text()[:8])
}

func apiError(t *testing.T, err error) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae
}

// wantAPIError checks an error's code and, unless message is "", its
// message.
func wantAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	ae := apiError(t, err)
	if ae.ErrorCode() != code {
		t.Fatalf("error code %q (%v), want %q", ae.ErrorCode(), err, code)
	}
	if message != "" && ae.ErrorMessage() != message {
		t.Errorf("error message %q, want %q", ae.ErrorMessage(), message)
	}
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func requestIDOf(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}

// result carries an SDK call's two results to must, so a call reads
// check(client.Op(ctx, in)).must(t).
type result[T any] struct {
	v   T
	err error
}

func check[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

var arnPattern = regexp.MustCompile(`^arn:aws:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)-([A-Za-z0-9]{6})$`)

// wantSecretARN checks an ARN's shape, Region and name and returns its
// random suffix.
func wantSecretARN(t *testing.T, arn, region, name string) string {
	t.Helper()
	m := arnPattern.FindStringSubmatch(arn)
	if m == nil {
		t.Fatalf("ARN %q does not have the AWS secret ARN shape", arn)
	}
	if m[1] != region || m[2] != account || m[3] != name {
		t.Fatalf("ARN %q: region %q account %q name %q, want %q %q %q", arn, m[1], m[2], m[3], region, account, name)
	}
	return m[4]
}

// inRegion is arn with its Region replaced, which is what AWS documents a
// replica's ARN to be.
func inRegion(arn, region string) string {
	parts := strings.SplitN(arn, ":", 5)
	parts[3] = region
	return strings.Join(parts, ":")
}

func describe(t *testing.T, c *clients, region, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	return check(c.in(region).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: &id})).must(t)
}

func createSecret(t *testing.T, c *clients, region, name string) string {
	t.Helper()
	out := check(c.in(region).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: aws.String(`{"k":"v"}`),
	})).must(t)
	return aws.ToString(out.ARN)
}

func replicate(t *testing.T, c *clients, id string, force bool, regions ...types.ReplicaRegionType) *secretsmanager.ReplicateSecretToRegionsOutput {
	t.Helper()
	return check(c.in(primaryRegion).ReplicateSecretToRegions(context.Background(), &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: &id, AddReplicaRegions: regions, ForceOverwriteReplicaSecret: force,
	})).must(t)
}

func region(r string) types.ReplicaRegionType { return types.ReplicaRegionType{Region: aws.String(r)} }

func regionWithKey(r, key string) types.ReplicaRegionType {
	return types.ReplicaRegionType{Region: aws.String(r), KmsKeyId: aws.String(key)}
}

// lastStatus is the last ReplicationStatus entry for a Region (moto may keep
// several for one Region; AWS and the stand-in keep one).
func lastStatus(list []types.ReplicationStatusType, region string) (types.ReplicationStatusType, bool) {
	for i := len(list) - 1; i >= 0; i-- {
		if aws.ToString(list[i].Region) == region {
			return list[i], true
		}
	}
	return types.ReplicationStatusType{}, false
}

// waitInSync polls DescribeSecret in the primary's Region until every named
// Region's (last) entry is InSync, as a client of AWS must.
func waitInSync(t *testing.T, c *clients, id string, regions ...string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := describe(t, c, primaryRegion, id)
		pending := []string{}
		for _, r := range regions {
			st, ok := lastStatus(d.ReplicationStatus, r)
			if !ok {
				t.Fatalf("no ReplicationStatus entry for %s: %s", r, statusString(d.ReplicationStatus))
			}
			switch st.Status {
			case types.StatusTypeInSync:
			case types.StatusTypeInProgress:
				pending = append(pending, r)
			default:
				t.Fatalf("replication to %s is %s (%s)", r, st.Status, aws.ToString(st.StatusMessage))
			}
		}
		if len(pending) == 0 {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("still InProgress after 10s: %v", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statusString(list []types.ReplicationStatusType) string {
	var b strings.Builder
	for _, s := range list {
		fmt.Fprintf(&b, "[%s %s %s %q] ", aws.ToString(s.Region), aws.ToString(s.KmsKeyId), s.Status, aws.ToString(s.StatusMessage))
	}
	return b.String()
}
