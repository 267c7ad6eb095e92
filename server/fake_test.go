package server_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/validate"
	"github.com/replicad/replicad/server"
)

// fakeEngine stands in for the operations engine: the server's contract
// with it — what it is asked, and what it makes of each answer — is tested
// without a database or workers.
type fakeEngine struct {
	mu          sync.Mutex
	submissions []engine.Submission
	ops         map[uuid.UUID]domain.Operation
	err         error // returned by every call when set
	secret      domain.Secret
}

func (f *fakeEngine) Submit(_ context.Context, s engine.Submission) (domain.Operation, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.Operation{}, false, f.err
	}
	f.submissions = append(f.submissions, s)
	op := domain.Operation{
		ID: uuid.Must(uuid.NewV7()), Seq: int64(len(f.submissions)), Kind: s.Kind, State: domain.StatePending,
		SecretKey: s.Secret.Key(), AWSRegion: s.AWSRegion, Params: domain.Params{SecretID: s.Secret.Raw, Replicas: s.Replicas},
		Force: s.Force, Principal: s.Principal, RequestID: s.RequestID, ReasonFingerprint: s.ReasonFingerprint,
		Labels: s.Labels, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	for _, r := range s.Replicas {
		op.Regions = append(op.Regions, domain.RegionProgress{Region: r.Region, State: domain.RegionPending})
	}
	f.ops[op.ID] = op
	return op, false, nil
}

func (f *fakeEngine) Cancel(_ context.Context, id uuid.UUID) (domain.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.Operation{}, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return domain.Operation{}, engine.ErrNotFound
	}
	op.State = domain.StateCancelled
	f.ops[id] = op
	return op, nil
}

func (f *fakeEngine) Get(_ context.Context, id uuid.UUID) (domain.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.Operation{}, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return domain.Operation{}, engine.ErrNotFound
	}
	return op, nil
}

func (f *fakeEngine) List(_ context.Context, flt domain.OperationFilter) ([]domain.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []domain.Operation
	for _, op := range f.ops {
		if (flt.SecretKey == "" || op.SecretKey == flt.SecretKey) && (flt.State == "" || op.State == flt.State) {
			out = append(out, op)
		}
	}
	return out, nil
}

func (f *fakeEngine) Status(ctx context.Context, _ string, id secretid.ID, _ string, recent int) (domain.Secret, []domain.Operation, error) {
	f.mu.Lock()
	sec, err := f.secret, f.err
	f.mu.Unlock()
	if err != nil {
		return domain.Secret{}, nil, err
	}
	ops, err := f.List(ctx, domain.OperationFilter{SecretKey: id.Key(), Limit: recent})
	return sec, ops, err
}

func (f *fakeEngine) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeEngine) last() engine.Submission {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submissions[len(f.submissions)-1]
}

// fakeOptions shape the server around the fake engine.
type fakeOptions struct {
	allowedRegions []string
}

// startFake serves the API around a fake engine on loopback, with no
// database, no audit and no authentication: what the server decides alone.
func startFake(t testing.TB, opts ...func(*fakeOptions)) (*testenv.Env, *fakeEngine) {
	t.Helper()
	var o fakeOptions
	for _, f := range opts {
		f(&o)
	}
	rules, err := validate.NewRules(o.allowedRegions, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	red, err := redact.New(bytes.Repeat([]byte("f"), 32))
	if err != nil {
		t.Fatal(err)
	}
	fe := &fakeEngine{ops: map[uuid.UUID]domain.Operation{}}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Engine: fe, Rules: rules, Redactor: red, ShutdownGrace: time.Second,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	return testenv.Connect(t, srv.GRPCAddr(), srv.HTTPAddr()), fe
}

func allowRegions(rs ...string) func(*fakeOptions) {
	return func(o *fakeOptions) { o.allowedRegions = rs }
}

// What a Replicate asks of the engine, over either transport: the primary
// Region as the AWS call's, the Regions and keys as given, and the
// sensitive values only as fingerprints.
func TestSubmissionFromRequest(t *testing.T) {
	t.Parallel()
	env, fe := startFake(t)
	const reason, label = "CANARY-reason-5f3a", "CANARY-label-9c1b"
	rid := uuid.NewString()
	req := &replicadv1.ReplicateRequest{
		SecretId:                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
		Regions:                     []*replicadv1.ReplicaRegion{{Region: "us-west-2", KmsKeyId: "alias/replica"}, {Region: "eu-west-3"}},
		ForceOverwriteReplicaSecret: true, RequestId: rid, Reason: reason, Labels: map[string]string{"ticket": label},
		ReplaceKmsKey: true,
	}
	check := func(transport string, s engine.Submission) {
		t.Helper()
		switch {
		case s.Kind != domain.KindReplicate || s.AWSRegion != "eu-west-1" || s.Secret.Key() != "prod/db" || !s.Force || !s.ReplaceKMSKey:
			t.Errorf("%s: kind %s region %s key %s force %v replace_kms_key %v", transport, s.Kind, s.AWSRegion, s.Secret.Key(), s.Force, s.ReplaceKMSKey)
		case len(s.Replicas) != 2 || s.Replicas[0] != (domain.ReplicaParam{Region: "us-west-2", KMSKeyID: "alias/replica"}):
			t.Errorf("%s: replicas %+v", transport, s.Replicas)
		case s.RequestID != rid || len(s.Canonical) == 0 || s.Principal != "anonymous":
			t.Errorf("%s: request id %q, canonical %d bytes, principal %q", transport, s.RequestID, len(s.Canonical), s.Principal)
		case !strings.HasPrefix(s.ReasonFingerprint, redact.Prefix) || !strings.HasPrefix(s.Labels["ticket"], redact.Prefix):
			t.Errorf("%s: reason %q and label %q are not fingerprints", transport, s.ReasonFingerprint, s.Labels["ticket"])
		}
	}
	resp, err := env.Client.Replicate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	grpcSub := fe.last()
	check("gRPC", grpcSub)
	if resp.GetOperation().GetState() != replicadv1.OperationState_OPERATION_STATE_PENDING || resp.GetOperation().GetReasonFingerprint() != grpcSub.ReasonFingerprint {
		t.Errorf("gRPC answer: %v", resp.GetOperation())
	}
	body := `{"regions": [{"region": "us-west-2", "kms_key_id": "alias/replica"}, {"region": "eu-west-3"}],
		"force_overwrite_replica_secret": true, "replace_kms_key": true, "request_id": "` + rid + `", "reason": "` + reason + `", "labels": {"ticket": "` + label + `"}}`
	code, out := env.REST(t, http.MethodPost, "/v1/secrets/"+escape(req.GetSecretId())+":replicate", body)
	if code != http.StatusOK {
		t.Fatalf("REST: %d %s", code, out)
	}
	restSub := fe.last()
	check("REST", restSub)
	if !bytes.Equal(restSub.Canonical, grpcSub.Canonical) {
		t.Error("the same request over REST and gRPC has different canonical forms: a replay across transports would be refused")
	}
	if bytes.Contains(out, []byte(reason)) || bytes.Contains(out, []byte(label)) {
		t.Errorf("the answer shows the reason or the label in clear: %s", out)
	}
}

// Engine errors reach both transports with the right code.
func TestEngineErrorsOverBothTransports(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		err      error
		code     codes.Code
		httpCode int
	}{
		{"not found", engine.ErrNotFound, codes.NotFound, http.StatusNotFound},
		{"too late", engine.ErrTooLate, codes.FailedPrecondition, http.StatusBadRequest},
		{"request id reused", engine.ErrRequestIDReused, codes.AlreadyExists, http.StatusConflict},
		{"AWS throttled", &domain.AWSError{API: "DescribeSecret", Region: "us-east-1", AWSCode: "ThrottlingException", Code: domain.CodeResourceExhausted},
			codes.ResourceExhausted, http.StatusTooManyRequests},
		{"internal", errors.New("connection reset"), codes.Internal, http.StatusInternalServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, fe := startFake(t)
			fe.fail(tt.err)
			id := uuid.NewString()
			_, err := env.Client.CancelOperation(context.Background(), &replicadv1.CancelOperationRequest{Id: id})
			if status.Code(err) != tt.code {
				t.Errorf("gRPC: %v, want %s", err, tt.code)
			}
			if code, body := env.REST(t, http.MethodPost, "/v1/operations/"+id+":cancel", "{}"); code != tt.httpCode {
				t.Errorf("REST: %d %s, want %d", code, body, tt.httpCode)
			}
			_, err = env.Client.Status(context.Background(), &replicadv1.StatusRequest{SecretId: "prod/db"})
			if status.Code(err) != tt.code {
				t.Errorf("Status over gRPC: %v, want %s", err, tt.code)
			}
		})
	}
}

// An operation as the engine holds it, as callers see it.
func TestOperationRendering(t *testing.T) {
	t.Parallel()
	env, fe := startFake(t)
	now := time.Now().UTC()
	op := domain.Operation{
		ID: uuid.Must(uuid.NewV7()), Kind: domain.KindReplicate, State: domain.StateFailed, SecretKey: "prod/db", AWSRegion: "us-east-1",
		Params:   domain.Params{SecretID: "prod/db", Replicas: []domain.ReplicaParam{{Region: "eu-west-1", KMSKeyID: "alias/k"}}},
		Regions:  []domain.RegionProgress{{Region: "eu-west-1", State: domain.RegionFailed, ReplicationStatus: "Failed", Message: "key disabled"}},
		Error:    &domain.Error{Code: domain.CodeFailedPrecondition, Message: "replication failed in eu-west-1"},
		AWSCalls: []domain.AWSCall{{API: "ReplicateSecretToRegions", Region: "us-east-1", RequestID: "rid-1", Time: now}},
		Attempts: 2, CreatedAt: now, UpdatedAt: now, StartedAt: now, EndedAt: now,
	}
	fe.mu.Lock()
	fe.ops[op.ID] = op
	fe.mu.Unlock()
	resp, err := env.Client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: op.ID.String()})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetOperation()
	r := got.GetRegions()[0]
	switch {
	case got.GetState() != replicadv1.OperationState_OPERATION_STATE_FAILED || got.GetError().GetCode() != int32(codes.FailedPrecondition):
		t.Errorf("state %s error %v", got.GetState(), got.GetError())
	case r.GetKmsKeyId() != "alias/k" || r.GetState() != replicadv1.RegionState_REGION_STATE_FAILED ||
		r.GetReplicationStatus() != replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED || r.GetMessage() != "key disabled":
		t.Errorf("region %v", r)
	case len(got.GetAwsCalls()) != 1 || got.GetAwsCalls()[0].GetRequestId() != "rid-1" || got.GetAttempts() != 2 || got.GetEndTime() == nil:
		t.Errorf("calls %v attempts %d end %v", got.GetAwsCalls(), got.GetAttempts(), got.GetEndTime())
	}
	code, body := env.REST(t, http.MethodGet, "/v1/operations/"+op.ID.String(), nil)
	for _, want := range []string{`"state":"OPERATION_STATE_FAILED"`, `"kms_key_id":"alias/k"`, `"request_id":"rid-1"`, `"code":9`} {
		if code != http.StatusOK || !strings.Contains(strings.ReplaceAll(string(body), " ", ""), want) {
			t.Errorf("REST body lacks %s: %d %s", want, code, body)
		}
	}
}

func (f *fakeEngine) Approve(context.Context, uuid.UUID, string, []string) (domain.Operation, error) {
	return domain.Operation{}, engine.ErrNotAwaitingApproval
}
