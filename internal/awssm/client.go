// Package awssm is replicad's adapter to AWS Secrets Manager (aws-sdk-go-v2):
// the one place that knows the SDK, AWS's error codes, the retry policy and
// the request-rate budgets. Callers name a Region per call; the adapter keeps
// one SDK client per Region, all pointed at --aws-endpoint when set (moto,
// the stand-in, a VPC endpoint), with the Region travelling in the request
// signature.
package awssm

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/replicad/replicad/internal/domain"
)

// Defaults for Config's zero values.
const (
	// WriteRateDefault is half of AWS's shared 50 requests/s bucket for
	// ReplicateSecretToRegions, RemoveRegionsFromReplication,
	// StopReplicationToReplica, PutSecretValue and UpdateSecret: the account's
	// other writers keep the other half.
	WriteRateDefault = 25.0
	// ReadRateDefault paces DescribeSecret. AWS allows 40,000 requests/s
	// per Region (since March 2025), shared with the account's other
	// readers; a Replicate makes at least two reads per write, so the read
	// budget must stay well above twice the write budget or reads, not the
	// write quota, would pace a backlog.
	ReadRateDefault = 250.0
	// ScanRateDefault paces the inventory scanner per (account, Region):
	// its ListSecrets pages (up to 100 secrets each) and the DescribeSecret
	// calls it makes for replicated secrets (ListSecrets reports no
	// replication status). 10 requests/s is a small fraction of AWS's
	// per-Region read quotas, so a scan of a large account never competes
	// with the account's own readers or with replicad's operations.
	ScanRateDefault    = 10.0
	MaxAttemptsDefault = 6
	MaxBackoffDefault  = 10 * time.Second
	TimeoutDefault     = 15 * time.Second
)

// Config configures the adapter. The zero value means the defaults and the
// SDK's default credential chain.
type Config struct {
	// Endpoint, if set, receives every Region's requests.
	Endpoint string
	// WriteRate is the budget, in requests per second per (account,
	// Region), for the mutating calls (default WriteRateDefault).
	WriteRate float64
	// ReadRate is the separate budget for DescribeSecret (default
	// ReadRateDefault).
	ReadRate float64
	// ScanRate is the inventory scanner's own budget: ListSecrets, and
	// DescribeSecret calls made WithScan (default ScanRateDefault).
	ScanRate float64
	// Accounts are the AWS accounts replicad acts in through an assumed
	// role. Calls for any other account (and calls naming no account) use
	// the ambient credentials.
	Accounts []Account
	// STSEndpoint, if set, receives AssumeRole calls; default Endpoint when
	// that is set, else AWS's.
	STSEndpoint string
	// MaxAttempts per call, first attempt included, for throttling, 5xx,
	// timeouts and connection errors (default MaxAttemptsDefault).
	MaxAttempts int
	// MaxBackoff caps the delay between attempts (default MaxBackoffDefault).
	MaxBackoff time.Duration
	// Timeout bounds one attempt (default TimeoutDefault).
	Timeout time.Duration
	// Credentials overrides the default chain (tests, the stand-in).
	Credentials aws.CredentialsProvider
	// Observer, if set, hears about every attempt (metrics, audit).
	Observer Observer
	// TracerProvider, if set, records a client span per attempt.
	TracerProvider trace.TracerProvider
}

// Client calls Secrets Manager in any Region of any configured account.
type Client struct {
	tracer trace.Tracer
	base   aws.Config
	cfg    Config
	limits *budgets
	// creds holds each configured account's assumed-role credentials,
	// cached and refreshed before they expire by the SDK.
	creds    map[string]aws.CredentialsProvider
	mu       sync.Mutex
	byRegion map[clientKey]*secretsmanager.Client
	// kmsByRegion holds the KMS clients alias resolution uses (guarded
	// by mu).
	kmsByRegion map[clientKey]*kms.Client
}

type clientKey struct{ account, region string }

// New loads the AWS configuration (default chain) and returns a Client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.WriteRate == 0 {
		cfg.WriteRate = WriteRateDefault
	}
	if cfg.ReadRate == 0 {
		cfg.ReadRate = ReadRateDefault
	}
	if cfg.ScanRate == 0 {
		cfg.ScanRate = ScanRateDefault
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = MaxAttemptsDefault
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = MaxBackoffDefault
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = TimeoutDefault
	}
	httpClient := awshttp.NewBuildableClient().WithTimeout(cfg.Timeout).WithTransportOptions(func(t *http.Transport) {
		// Workers share one endpoint per Region: keep enough idle
		// connections for all of them.
		t.MaxIdleConns = 512
		t.MaxIdleConnsPerHost = 128
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				// Exponential backoff with full jitter, capped.
				o.Backoff = retry.NewExponentialJitterBackoff(cfg.MaxBackoff)
			})
		}),
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	base, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// Wrapped after loading: the loader configures the buildable client
	// itself (AWS_CA_BUNDLE), which a wrapper would hide from it.
	base.HTTPClient = pacedClient{base.HTTPClient}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	creds, err := assumeRoles(base, cfg)
	if err != nil {
		return nil, err
	}
	return &Client{
		tracer:      tp.Tracer("github.com/replicad/replicad/internal/awssm"),
		base:        base,
		cfg:         cfg,
		limits:      newBudgets(cfg.WriteRate, cfg.ReadRate, cfg.ScanRate),
		creds:       creds,
		byRegion:    map[clientKey]*secretsmanager.Client{},
		kmsByRegion: map[clientKey]*kms.Client{},
	}, nil
}

// client returns the SDK client for the call's account (WithAccount, or
// the account of the ARN the call names) in region: a configured account's
// client signs with its assumed role's credentials, any other with the
// ambient ones.
func (c *Client) client(ctx context.Context, region string) *secretsmanager.Client {
	return cachedClient(c, ctx, region, c.byRegion, func(account string, creds aws.CredentialsProvider) *secretsmanager.Client {
		return secretsmanager.NewFromConfig(c.base, func(o *secretsmanager.Options) {
			o.Region = region
			if c.cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(c.cfg.Endpoint)
			}
			if creds != nil {
				o.Credentials = creds
			}
			o.APIOptions = append(o.APIOptions, attemptMiddleware(c.limits, c.cfg.Observer, c.tracer, account))
		})
	})
}

// cachedClient is the client in cache for the call's account and region,
// made by mk (with the account's assumed-role credentials, nil for the
// ambient ones) on first use. One client per (account, Region) and
// service: an SDK client is safe for concurrent use and costly to build.
func cachedClient[C any](c *Client, ctx context.Context, region string, cache map[clientKey]C, mk func(account string, creds aws.CredentialsProvider) C) C {
	account, _ := ctx.Value(accountKey{}).(string)
	creds, assumed := c.creds[account]
	if !assumed {
		account, creds = "", nil
	}
	k := clientKey{account, region}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := cache[k]; ok {
		return cl
	}
	cl := mk(account, creds)
	cache[k] = cl
	return cl
}

// budgetAccount is the account whose budgets a call about account spends:
// the account whose credentials make it. A configured account's own;
// anything else ("" or an ARN's account that is not configured) is made
// with the ambient credentials, in the ambient account, and shares its
// budgets, whether the secret was named by ARN or by name: AWS's quota is
// the calling account's.
func (c *Client) budgetAccount(account string) string {
	if _, assumed := c.creds[account]; assumed {
		return account
	}
	return ""
}

// WriteTurn is for a caller with other work to do while it waits (a
// worker, which can snooze its job): it returns 0 if a mutating call about
// secretID in region sent now would wait at most maxWait for its write
// budget; else it books the caller a later place in line and returns how
// long to go away before asking again (about the same secret, which keeps
// its place). Nothing is reserved: the call still waits for the budget
// when sent. A background caller (ctx's Caller) is booked behind the
// interactive ones, as its call will be sent behind theirs.
func (c *Client) WriteTurn(ctx context.Context, region, secretID string, maxWait time.Duration) time.Duration {
	account, _ := withKey(ctx, secretID).Value(accountKey{}).(string)
	caller, _ := ctx.Value(callerKey{}).(Caller)
	return c.limits.limiter(c.budgetAccount(account), region, bucketWrite).book(secretID, maxWait, caller.Background)
}

// ShareBudgets splits the rate budgets between n processes: each keeps
// 1/n of every budget, so the configured rate holds for the deployment.
func (c *Client) ShareBudgets(n int) { c.limits.setShare(n) }

// Describe calls DescribeSecret in region.
func (c *Client) Describe(ctx context.Context, region, secretID string) (domain.Secret, error) {
	ctx = withKey(ctx, secretID)
	out, err := c.client(ctx, region).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return domain.Secret{}, classify("DescribeSecret", region, err)
	}
	s := domain.Secret{
		ARN:           aws.ToString(out.ARN),
		Name:          aws.ToString(out.Name),
		PrimaryRegion: aws.ToString(out.PrimaryRegion),
		Replicas:      replicas(out.ReplicationStatus),
		Deleted:       out.DeletedDate != nil,
		LastChanged:   aws.ToTime(out.LastChangedDate),
		KMSKeyID:      aws.ToString(out.KmsKeyId),
		Tags:          tags(out.Tags),
	}
	if len(out.VersionIdsToStages) > 0 {
		s.VersionIDsToStages = out.VersionIdsToStages
	}
	if s.PrimaryRegion == "" {
		// A secret that was never replicated has no PrimaryRegion field.
		s.PrimaryRegion = region
	}
	return s, nil
}

// Replicate calls ReplicateSecretToRegions in the primary's Region.
func (c *Client) Replicate(ctx context.Context, region, secretID string, add []domain.ReplicaParam, force bool) ([]domain.Replica, error) {
	ctx = withKey(ctx, secretID)
	in := &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId:                    aws.String(secretID),
		ForceOverwriteReplicaSecret: force,
	}
	for _, a := range add {
		r := types.ReplicaRegionType{Region: aws.String(a.Region)}
		if a.KMSKeyID != "" {
			r.KmsKeyId = aws.String(a.KMSKeyID)
		}
		in.AddReplicaRegions = append(in.AddReplicaRegions, r)
	}
	var out *secretsmanager.ReplicateSecretToRegionsOutput
	err := mutate(ctx, "ReplicateSecretToRegions", region, func(ctx context.Context) (err error) {
		out, err = c.client(ctx, region).ReplicateSecretToRegions(ctx, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	return replicas(out.ReplicationStatus), nil
}

// RemoveRegions calls RemoveRegionsFromReplication in the primary's Region
// and returns the remaining replicas.
func (c *Client) RemoveRegions(ctx context.Context, region, secretID string, regions []string) ([]domain.Replica, error) {
	ctx = withKey(ctx, secretID)
	var out *secretsmanager.RemoveRegionsFromReplicationOutput
	err := mutate(ctx, "RemoveRegionsFromReplication", region, func(ctx context.Context) (err error) {
		out, err = c.client(ctx, region).RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
			SecretId:             aws.String(secretID),
			RemoveReplicaRegions: regions,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return replicas(out.ReplicationStatus), nil
}

// StopReplication calls StopReplicationToReplica in the replica's Region,
// making the replica a standalone secret; it returns the promoted secret's
// ARN.
func (c *Client) StopReplication(ctx context.Context, region, secretID string) (string, error) {
	ctx = withKey(ctx, secretID)
	var out *secretsmanager.StopReplicationToReplicaOutput
	err := mutate(ctx, "StopReplicationToReplica", region, func(ctx context.Context) (err error) {
		out, err = c.client(ctx, region).StopReplicationToReplica(ctx, &secretsmanager.StopReplicationToReplicaInput{
			SecretId: aws.String(secretID),
		})
		return err
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ARN), nil
}

func replicas(in []types.ReplicationStatusType) []domain.Replica {
	out := make([]domain.Replica, 0, len(in))
	for _, r := range in {
		rep := domain.Replica{
			Region:        aws.ToString(r.Region),
			KMSKeyID:      aws.ToString(r.KmsKeyId),
			Status:        domain.ReplicationStatus(r.Status),
			StatusMessage: aws.ToString(r.StatusMessage),
		}
		if r.LastAccessedDate != nil {
			rep.LastAccessed = *r.LastAccessedDate
		}
		out = append(out, rep)
	}
	return out
}

func tags(in []types.Tag) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for _, t := range in {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// ListedSecret is one ListSecrets entry. ListSecrets reports no
// replication status: a replicated primary must be described for that.
type ListedSecret struct {
	ARN, Name string
	// PrimaryRegion is "" for a secret that never took part in
	// replication; a replica is listed in its own Region with its
	// primary's Region here.
	PrimaryRegion string
	KMSKeyID      string
	Tags          map[string]string
	Deleted       bool
	LastChanged   time.Time
}

// ListPage is one page of ListSecrets.
type ListPage struct {
	Secrets []ListedSecret
	// NextToken is "" on the last page.
	NextToken string
}

// ListPageSizeMax is the largest page ListSecrets returns.
const ListPageSizeMax = 100

// ListSecrets calls ListSecrets for one page of account's secrets in
// region, secrets scheduled for deletion included (they are part of the
// inventory), under the ListSecrets budget. token is the previous page's
// NextToken ("" for the first page). account "" means the ambient
// credentials' account.
func (c *Client) ListSecrets(ctx context.Context, account, region, token string, pageSize int) (ListPage, error) {
	ctx = WithAccount(ctx, account)
	if pageSize <= 0 || pageSize > ListPageSizeMax {
		pageSize = ListPageSizeMax
	}
	in := &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(int32(pageSize)), IncludePlannedDeletion: aws.Bool(true)}
	if token != "" {
		in.NextToken = aws.String(token)
	}
	out, err := c.client(ctx, region).ListSecrets(ctx, in)
	if err != nil {
		return ListPage{}, classify("ListSecrets", region, err)
	}
	page := ListPage{Secrets: make([]ListedSecret, 0, len(out.SecretList)), NextToken: aws.ToString(out.NextToken)}
	for _, e := range out.SecretList {
		page.Secrets = append(page.Secrets, ListedSecret{
			ARN: aws.ToString(e.ARN), Name: aws.ToString(e.Name), PrimaryRegion: aws.ToString(e.PrimaryRegion),
			KMSKeyID: aws.ToString(e.KmsKeyId), Tags: tags(e.Tags), Deleted: e.DeletedDate != nil,
			LastChanged: aws.ToTime(e.LastChangedDate),
		})
	}
	return page, nil
}
