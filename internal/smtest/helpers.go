package smtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
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
	PrimaryRegion = "us-east-1"
	ReplicaEU     = "eu-west-3"
	ReplicaAP     = "ap-southeast-2"
	OtherRegion   = "us-west-2"
	account       = standin.AccountIDDefault
)

// clients hands out one real SDK client per Region, all pointed at one
// endpoint, signed with static credentials as a test run would be.
type Clients struct {
	endpoint string
	noRetry  bool
	// http, when set, carries the requests instead of the SDK's default
	// client (see NewInMemoryClientsWithoutRetries).
	http aws.HTTPClient

	mu  sync.Mutex
	byR map[string]*secretsmanager.Client
}

// Serve starts a stand-in with opts, served over HTTP on a loopback port
// until the test ends, and returns it with its endpoint URL: what replicad
// under test reaches through the SDK as its AWS endpoint.
func Serve(t testing.TB, opts standin.Options) (*standin.Server, string) {
	t.Helper()
	sm, err := standin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	return sm, srv.URL
}

func NewClients(endpoint string) *Clients {
	return &Clients{endpoint: endpoint, byR: map[string]*secretsmanager.Client{}}
}

// NewClientsWithoutRetries returns clients that surface every throttle and
// 5xx instead of retrying them, for tests that count them.
func NewClientsWithoutRetries(endpoint string) *Clients {
	c := NewClients(endpoint)
	c.noRetry = true
	return c
}

// NewInMemoryClientsWithoutRetries returns clients, without retries, whose
// requests h serves in the calling goroutine: the SDK signs and encodes
// each request and decodes each answer as usual, but no socket carries it.
// That lets a test run inside a testing/synctest bubble, where the clock
// is fake and moves only when every goroutine waits: a test that counts
// what a one-second budget window admits then sees all its calls in one
// window however slowly the machine runs them, and a test of injected
// latency sees exactly that latency.
func NewInMemoryClientsWithoutRetries(h http.Handler) *Clients {
	c := NewClientsWithoutRetries("http://standin.invalid")
	c.http = handlerClient{h}
	return c
}

// handlerClient is an aws.HTTPClient that hands each request to a handler.
type handlerClient struct{ h http.Handler }

func (c handlerClient) Do(req *http.Request) (*http.Response, error) {
	// The handler sees what a server would: a request URI and a body that
	// is never nil.
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "192.0.2.1:443"
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func (c *Clients) In(region string) *secretsmanager.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.byR[region]; cl != nil {
		return cl
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTANDINTEST", "not-a-secret", ""),
	}
	if c.http != nil {
		cfg.HTTPClient = c.http
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

// UniqueName keeps tests that share a backend (moto) apart.
func UniqueName(base string) string {
	return "conformance/" + base + "-" + strings.ToLower(rand.Text()[:8])
}

func APIError(t *testing.T, err error) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae
}

// WantAPIError checks an error's code and, unless message is "", its
// message.
func WantAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	ae := APIError(t, err)
	if ae.ErrorCode() != code {
		t.Fatalf("error code %q (%v), want %q", ae.ErrorCode(), err, code)
	}
	if message != "" && ae.ErrorMessage() != message {
		t.Errorf("error message %q, want %q", ae.ErrorMessage(), message)
	}
}

func HTTPStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func RequestIDOf(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}

// result carries an SDK call's two results to must, so a call reads
// Check(client.Op(ctx, in)).Must(t).
type Result[T any] struct {
	v   T
	err error
}

func Check[T any](v T, err error) Result[T] { return Result[T]{v, err} }

func (r Result[T]) Must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

var arnPattern = regexp.MustCompile(`^arn:aws:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)-([A-Za-z0-9]{6})$`)

// WantSecretARN checks an ARN's shape, Region and name and returns its
// random suffix.
func WantSecretARN(t *testing.T, arn, region, name string) string {
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

// InRegion is arn with its Region replaced, which is what AWS documents a
// replica's ARN to be.
func InRegion(arn, region string) string {
	parts := strings.SplitN(arn, ":", 5)
	parts[3] = region
	return strings.Join(parts, ":")
}

func Describe(t *testing.T, c *Clients, region, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	return Check(c.In(region).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: &id})).Must(t)
}

func CreateSecret(t *testing.T, c *Clients, region, name string) string {
	t.Helper()
	out := Check(c.In(region).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: aws.String(`{"k":"v"}`),
	})).Must(t)
	return aws.ToString(out.ARN)
}

func Replicate(t *testing.T, c *Clients, id string, force bool, regions ...types.ReplicaRegionType) *secretsmanager.ReplicateSecretToRegionsOutput {
	t.Helper()
	return Check(c.In(PrimaryRegion).ReplicateSecretToRegions(context.Background(), &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: &id, AddReplicaRegions: regions, ForceOverwriteReplicaSecret: force,
	})).Must(t)
}

func Region(r string) types.ReplicaRegionType { return types.ReplicaRegionType{Region: aws.String(r)} }

func RegionWithKey(r, key string) types.ReplicaRegionType {
	return types.ReplicaRegionType{Region: aws.String(r), KmsKeyId: aws.String(key)}
}

// LastStatus is the last ReplicationStatus entry for a Region (moto may keep
// several for one Region; AWS and the stand-in keep one).
func LastStatus(list []types.ReplicationStatusType, region string) (types.ReplicationStatusType, bool) {
	for i := len(list) - 1; i >= 0; i-- {
		if aws.ToString(list[i].Region) == region {
			return list[i], true
		}
	}
	return types.ReplicationStatusType{}, false
}

// WaitInSync polls DescribeSecret in the primary's Region until every named
// Region's (last) entry is InSync, as a client of AWS must.
func WaitInSync(t *testing.T, c *Clients, id string, regions ...string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := Describe(t, c, PrimaryRegion, id)
		pending := []string{}
		for _, r := range regions {
			st, ok := LastStatus(d.ReplicationStatus, r)
			if !ok {
				t.Fatalf("no ReplicationStatus entry for %s: %s", r, StatusString(d.ReplicationStatus))
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

func StatusString(list []types.ReplicationStatusType) string {
	var b strings.Builder
	for _, s := range list {
		fmt.Fprintf(&b, "[%s %s %s %q] ", aws.ToString(s.Region), aws.ToString(s.KmsKeyId), s.Status, aws.ToString(s.StatusMessage))
	}
	return b.String()
}

// FilterString renders ListSecrets filters for a test's message.
func FilterString(filters []types.Filter) string {
	parts := make([]string, 0, len(filters))
	for _, f := range filters {
		parts = append(parts, string(f.Key)+"="+strings.Join(f.Values, "|"))
	}
	return strings.Join(parts, " ")
}
