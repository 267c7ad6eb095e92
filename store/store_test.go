package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/internal/seal"
	"github.com/replicad/replicad/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Every test runs in its own rolled-back transaction on one shared
// database: it sees only what it wrote. Tests running in parallel use their
// own secret keys and request ids, so that no two wait on each other's
// uncommitted rows or advisory locks.

type bundle struct {
	ctx context.Context
	tx  pgx.Tx
	st  *store.Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{ctx: context.Background(), tx: pgtest.Tx(t), st: store.New(box)}
}

func secretKey(t *testing.T) string {
	return "store-test/" + strings.ToLower(t.Name()) + "/" + uuid.NewString()[:8]
}

func (b *bundle) insert(t *testing.T, key string, mutate func(*domain.Operation)) domain.Operation {
	t.Helper()
	op := domain.Operation{
		ID:            uuid.Must(uuid.NewV7()),
		Kind:          domain.KindReplicate,
		State:         domain.StatePending,
		SecretKey:     key,
		SecretDisplay: "arn:aws:secretsmanager:us-east-1:fp-0011223344556677:secret:" + key,
		AWSRegion:     "us-east-1",
		Params: domain.Params{
			SecretID: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + key + "-AbCdEf",
			Replicas: []domain.ReplicaParam{{Region: "eu-west-1", KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:alias/k"}},
		},
		Regions:   []domain.RegionProgress{{Region: "eu-west-1", State: domain.RegionPending}},
		Principal: "spiffe://test/app",
		Labels:    map[string]string{"ticket": "fp-aaaaaaaaaaaaaaaa"},
	}
	if mutate != nil {
		mutate(&op)
	}
	if err := b.st.Insert(b.ctx, b.tx, &op); err != nil {
		t.Fatal(err)
	}
	return op
}

func TestInsertGetRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	want := b.insert(t, secretKey(t), func(op *domain.Operation) {
		op.RequestID, op.RequestHash, op.ReasonFingerprint, op.Force = uuid.NewString(), []byte("mac"), "fp-bbbbbbbbbbbbbbbb", true
		op.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	})
	if want.Seq == 0 || want.CreatedAt.IsZero() {
		t.Fatalf("Insert did not fill seq and times: %+v", want)
	}
	got, err := b.st.Get(b.ctx, b.tx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case got.Params.SecretID != want.Params.SecretID || got.Params.Replicas[0] != want.Params.Replicas[0]:
		t.Errorf("params did not survive sealing: %+v", got.Params)
	case got.Kind != want.Kind || got.State != want.State || got.SecretKey != want.SecretKey || got.AWSRegion != want.AWSRegion:
		t.Errorf("columns: %+v", got)
	case got.RequestID != want.RequestID || !bytes.Equal(got.RequestHash, want.RequestHash) || !got.Force:
		t.Errorf("request fields: %+v", got)
	case got.Labels["ticket"] != "fp-aaaaaaaaaaaaaaaa" || got.TraceParent != want.TraceParent || got.ReasonFingerprint != want.ReasonFingerprint:
		t.Errorf("labels, trace or reason: %+v", got)
	case got.Error != nil || !got.StartedAt.IsZero() || !got.EndedAt.IsZero() || got.JobID != 0:
		t.Errorf("a new operation has an error, times or a job: %+v", got)
	}
	// The stored params are sealed: the account id is not in the row.
	var raw []byte
	if err := b.tx.QueryRow(b.ctx, `SELECT params FROM operations WHERE seq = $1`, want.Seq).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("123456789012")) {
		t.Error("params are stored in clear")
	}
	if _, err := b.st.Get(b.ctx, b.tx, uuid.Must(uuid.NewV7())); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of an unknown id: %v, want ErrNotFound", err)
	}
}

func TestRequestIDIsUniquePerPrincipal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rid := uuid.NewString()
	first := b.insert(t, secretKey(t), func(op *domain.Operation) { op.RequestID, op.RequestHash = rid, []byte("a") })
	got, err := b.st.GetByRequestID(b.ctx, b.tx, first.Principal, rid)
	if err != nil || got.ID != first.ID {
		t.Fatalf("GetByRequestID: %v, %v", got.ID, err)
	}
	// Another principal may use the same request_id.
	b.insert(t, secretKey(t), func(op *domain.Operation) { op.Principal, op.RequestID, op.RequestHash = "other", rid, []byte("b") })
	// The same principal may not: inside a savepoint, as the failed insert
	// aborts what it runs in.
	sp, err := b.tx.Begin(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	dup := first
	dup.ID = uuid.Must(uuid.NewV7())
	if err := b.st.Insert(b.ctx, sp, &dup); !errors.Is(err, store.ErrDuplicateRequestID) {
		t.Errorf("a reused request_id: %v, want ErrDuplicateRequestID", err)
	}
	_ = sp.Rollback(b.ctx)
}

func TestUpdateWritesProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	op := b.insert(t, secretKey(t), nil)
	before := op.UpdatedAt
	now := time.Now().UTC().Truncate(time.Microsecond)
	// A job id past 2^31: River's ids are bigint, and a parameter typed
	// int4 by inference once refused them.
	op.State, op.Attempts, op.JobID = domain.StateFailed, 3, 1<<40
	op.StartedAt, op.EndedAt = now.Add(-time.Second), now
	op.Regions[0] = domain.RegionProgress{Region: "eu-west-1", State: domain.RegionFailed, ReplicationStatus: "Failed", Message: "no"}
	op.Error = &domain.Error{Code: domain.CodeFailedPrecondition, Message: "replication failed"}
	op.AWSCalls = []domain.AWSCall{{API: "ReplicateSecretToRegions", Region: "us-east-1", RequestID: "r-1", Time: now}}
	if err := b.st.Update(b.ctx, b.tx, &op); err != nil {
		t.Fatal(err)
	}
	if op.UpdatedAt.Before(before) {
		t.Errorf("UpdatedAt went back: %v < %v", op.UpdatedAt, before)
	}
	got, err := b.st.Get(b.ctx, b.tx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != domain.StateFailed || got.Attempts != 3 || got.JobID != 1<<40 || *got.Error != *op.Error ||
		got.Regions[0] != op.Regions[0] || len(got.AWSCalls) != 1 || got.AWSCalls[0].RequestID != "r-1" ||
		!got.StartedAt.Equal(op.StartedAt) || !got.EndedAt.Equal(op.EndedAt) {
		t.Errorf("after Update: %+v", got)
	}
	missing := domain.Operation{ID: uuid.Must(uuid.NewV7())}
	if err := b.st.Update(b.ctx, b.tx, &missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update of an unknown id: %v", err)
	}
}

func TestLockStateReadsStateAndStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	op := b.insert(t, secretKey(t), nil)
	if state, started, err := b.st.LockState(b.ctx, b.tx, op.ID); err != nil || state != domain.StatePending || !started.IsZero() {
		t.Errorf("a new operation: %q, %v, %v; want PENDING, never started", state, started, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	op.State, op.StartedAt = domain.StateRunning, now
	if err := b.st.Update(b.ctx, b.tx, &op); err != nil {
		t.Fatal(err)
	}
	if state, started, err := b.st.LockState(b.ctx, b.tx, op.ID); err != nil || state != domain.StateRunning || !started.Equal(now) {
		t.Errorf("after Update: %q, %v, %v; want RUNNING since %v", state, started, err, now)
	}
	if _, _, err := b.st.LockState(b.ctx, b.tx, uuid.Must(uuid.NewV7())); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LockState of an unknown id: %v, want ErrNotFound", err)
	}
}

func TestListFiltersNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keyA, keyB := secretKey(t), secretKey(t)
	a1 := b.insert(t, keyA, nil)
	b1 := b.insert(t, keyB, func(op *domain.Operation) { op.State = domain.StateSucceeded })
	a2 := b.insert(t, keyA, func(op *domain.Operation) { op.State = domain.StateSucceeded })
	a3 := b.insert(t, keyA, nil)
	for _, tt := range []struct {
		name string
		f    domain.OperationFilter
		want []domain.Operation
	}{
		{"by secret", domain.OperationFilter{SecretKey: keyA, Limit: 10}, []domain.Operation{a3, a2, a1}},
		{"by secret and state", domain.OperationFilter{SecretKey: keyA, State: domain.StateSucceeded, Limit: 10}, []domain.Operation{a2}},
		{"other secret", domain.OperationFilter{SecretKey: keyB, Limit: 10}, []domain.Operation{b1}},
		{"limit", domain.OperationFilter{SecretKey: keyA, Limit: 2}, []domain.Operation{a3, a2}},
		{"cursor", domain.OperationFilter{SecretKey: keyA, BeforeSeq: a2.Seq, Limit: 10}, []domain.Operation{a1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.st.List(b.ctx, b.tx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d operations, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].ID != tt.want[i].ID {
					t.Errorf("[%d] = seq %d, want seq %d", i, got[i].Seq, tt.want[i].Seq)
				}
			}
		})
	}
}

func TestSecretQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := secretKey(t)
	active, err := b.st.LockSecretHasActive(b.ctx, b.tx, key)
	if err != nil || active {
		t.Fatalf("an unused secret: active %v, %v", active, err)
	}
	head := b.insert(t, key, func(op *domain.Operation) { op.JobID = 7 })
	next := b.insert(t, key, nil)
	b.insert(t, key, nil)
	if active, err = b.st.LockSecretHasActive(b.ctx, b.tx, key); err != nil || !active {
		t.Fatalf("with a pending head: active %v, %v", active, err)
	}
	got, err := b.st.NextPending(b.ctx, b.tx, key)
	if err != nil || got.ID != next.ID {
		t.Fatalf("NextPending = seq %d, %v; want the oldest without a job (seq %d)", got.Seq, err, next.Seq)
	}
	if err := b.st.SetJob(b.ctx, b.tx, next.ID, 8); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.st.Get(b.ctx, b.tx, next.ID); got.JobID != 8 {
		t.Errorf("SetJob: job %d", got.JobID)
	}
	if ok, err := b.st.HasActiveHead(b.ctx, b.tx, key); err != nil || !ok {
		t.Errorf("HasActiveHead: %v, %v", ok, err)
	}
	head.State = domain.StateSucceeded
	if err := b.st.Update(b.ctx, b.tx, &head); err != nil {
		t.Fatal(err)
	}
	if err := b.st.SetJob(b.ctx, b.tx, uuid.Must(uuid.NewV7()), 9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetJob of an unknown id: %v", err)
	}
}

func TestHeadlessSecretsAreFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	headless, carried := secretKey(t), secretKey(t)
	b.insert(t, headless, nil)
	// A head whose job id names no River job is stranded, not headless.
	stranded := b.insert(t, carried, func(op *domain.Operation) { op.JobID = 1 << 40 })
	keys, err := b.st.HeadlessSecrets(b.ctx, b.tx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(keys, headless) || contains(keys, carried) {
		t.Errorf("HeadlessSecrets = %v, want %s and not %s", keys, headless, carried)
	}
	ops, err := b.st.StrandedActive(b.ctx, b.tx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, op := range ops {
		found = found || op.ID == stranded.ID
	}
	if !found {
		t.Errorf("StrandedActive misses an operation whose job does not exist")
	}
}

func TestOperationStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := secretKey(t)
	b.insert(t, key, nil)
	b.insert(t, key, func(op *domain.Operation) { op.Kind = domain.KindRemove })
	b.insert(t, key, func(op *domain.Operation) { op.Kind, op.State = domain.KindRemove, domain.StateSucceeded })
	counts, oldest, err := store.OperationStats(b.ctx, b.tx)
	if err != nil {
		t.Fatal(err)
	}
	// Other tests' rows are invisible: these counts are exactly ours.
	if counts[store.KindState{Kind: domain.KindReplicate, State: domain.StatePending}] != 1 ||
		counts[store.KindState{Kind: domain.KindRemove, State: domain.StatePending}] != 1 ||
		counts[store.KindState{Kind: domain.KindRemove, State: domain.StateSucceeded}] != 1 {
		t.Errorf("counts %v", counts)
	}
	if oldest.IsZero() || time.Since(oldest) > time.Minute {
		t.Errorf("oldest pending %v", oldest)
	}
}

func TestAuditEventsInsertAndList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	principal := "audit-" + uuid.NewString()
	op := uuid.Must(uuid.NewV7())
	now := time.Now().UTC().Truncate(time.Microsecond)
	rows := []store.AuditRow{
		{ID: uuid.Must(uuid.NewV7()), Time: now.Add(-2 * time.Second), Kind: "rpc", Principal: principal, Method: "/replicad.v1.ReplicationService/Replicate", Secret: "s", Code: 0, OperationID: op, Transport: "grpc", Body: "{}"},
		{ID: uuid.Must(uuid.NewV7()), Time: now.Add(-time.Second), Kind: "aws_call", Principal: principal, Method: "ReplicateSecretToRegions", Secret: "s", Code: 14, OperationID: op, Transport: "worker", AWSRegion: "us-east-1", AWSRequestID: "r", Body: "{}"},
		{ID: uuid.Must(uuid.NewV7()), Time: now, Kind: "rpc", Principal: principal, Method: "/replicad.v1.ReplicationService/Status", Secret: "t", Code: 7, Transport: "rest", Body: "{}"},
	}
	if err := store.InsertAuditEvents(b.ctx, b.tx, rows); err != nil {
		t.Fatal(err)
	}
	unavailable := int32(14)
	for _, tt := range []struct {
		name   string
		f      domain.AuditFilter
		secret string
		want   []int // indexes into rows, newest first
	}{
		{"principal", domain.AuditFilter{Principal: principal}, "", []int{2, 1, 0}},
		{"secret", domain.AuditFilter{Principal: principal}, "s", []int{1, 0}},
		{"kind", domain.AuditFilter{Principal: principal, Kind: "aws_call"}, "", []int{1}},
		{"code", domain.AuditFilter{Principal: principal, Code: &unavailable}, "", []int{1}},
		{"methods", domain.AuditFilter{Principal: principal, Methods: []string{"x", "/replicad.v1.ReplicationService/Status"}}, "", []int{2}},
		{"operation", domain.AuditFilter{Principal: principal, OperationID: op}, "", []int{1, 0}},
		{"time", domain.AuditFilter{Principal: principal, Start: now.Add(-time.Second), End: now}, "", []int{1}},
		{"limit", domain.AuditFilter{Principal: principal, Limit: 1}, "", []int{2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			if f.Limit == 0 {
				f.Limit = 100
			}
			got, err := store.ListAuditEvents(b.ctx, b.tx, f, tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].ID != rows[w].ID {
					t.Errorf("[%d] = %s, want %s", i, got[i].Method, rows[w].Method)
				}
			}
		})
	}
	n, err := store.CountUnchainedAuditEvents(b.ctx, b.tx)
	if err != nil || n < 3 {
		t.Errorf("CountUnchainedAuditEvents = %d, %v", n, err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
