// Package engine is replicad's operations engine: it accepts Replicate,
// Remove and Promote operations durably, runs them against Secrets Manager
// through a worker pool, and guarantees that operations on one secret run
// one at a time in the order they were accepted.
//
// Ordering works as a chain: only the oldest unfinished operation of each
// secret carries a queue job. Accepting an operation enqueues a job only if
// its secret has nothing in flight; finishing or cancelling the head enqueues
// the next one, in the same transaction that ends the head. A per-secret
// advisory lock serialises these changes, so at any moment at most one
// operation per secret can be executing, and a Remove accepted after a
// Replicate can never overtake it. Operations on different secrets run in
// parallel, up to the pool's size.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/queue"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/seal"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/tracing"
	"github.com/replicad/replicad/store"
)

// SecretsManager is what the engine needs from AWS (package awssm).
type SecretsManager interface {
	Describe(ctx context.Context, region, secretID string) (domain.Secret, error)
	Replicate(ctx context.Context, region, secretID string, add []domain.ReplicaParam, force bool) ([]domain.Replica, error)
	RemoveRegions(ctx context.Context, region, secretID string, regions []string) ([]domain.Replica, error)
	StopReplication(ctx context.Context, region, secretID string) (string, error)
	// WriteTurn returns 0 when a mutating call sent now would wait at
	// most maxWait for its write budget, else how long to snooze first
	// (awssm.Client.WriteTurn).
	WriteTurn(ctx context.Context, region, secretID string, maxWait time.Duration) time.Duration
	// KeyState is a KMS key's KeyState in region, in the account set by
	// awssm.WithAccount (KMS DescribeKey); a missing key is an
	// *awssm.Error of ClassNotFound.
	KeyState(ctx context.Context, region, key string) (string, error)
}

// Observer hears about operations being accepted and reaching a terminal
// state (metrics).
type Observer interface {
	OperationAccepted(kind domain.Kind)
	OperationFinished(op domain.Operation)
}

// Defaults for Config's zero values.
const (
	ReplicationDeadlineDefault = 10 * time.Minute
	PollInitialDefault         = 200 * time.Millisecond
	PollMaxDefault             = 5 * time.Second
	// InlinePollDefault is zero: an execution looks once after its
	// mutating call and snoozes (see waiter.go).
	InlinePollDefault = 0
	// WaitReadRateDefault is the DescribeSecret rate this process's waiting
	// operations may use: half of awssm.ReadRateDefault, the other half
	// left to first looks and Status.
	WaitReadRateDefault   = 125.0
	RepairIntervalDefault = 30 * time.Second
	// RetryForDefault bounds how long an operation retries transient
	// failures (throttling, 5xx, timeouts) from its first failed attempt:
	// long enough to ride out a throttling burst or a short AWS incident,
	// short enough that a call AWS keeps refusing ends the operation FAILED
	// (freeing its secret's queue) while its user is still looking.
	RetryForDefault = 15 * time.Minute
)

// Config tunes the engine. The zero value means the defaults.
type Config struct {
	// ReplicationDeadline is how long Replicate waits for every Region to be
	// InSync or Failed, from the operation's start (default
	// ReplicationDeadlineDefault).
	ReplicationDeadline time.Duration
	// PollInitial and PollMax bound the DescribeSecret polling backoff
	// (defaults PollInitialDefault, PollMaxDefault).
	PollInitial, PollMax time.Duration
	// InlinePoll is how long one job execution may poll before handing the
	// wait back to the queue as a snooze, freeing its worker (default
	// InlinePollDefault, zero: snooze after the first look).
	InlinePoll time.Duration
	// WaitReadRate bounds the DescribeSecret calls per second of this
	// process's waiting operations in each (account, Region) (default
	// WaitReadRateDefault; negative: unbounded). The daemon sets it to half
	// the configured read budget, unbounded when that is.
	WaitReadRate float64
	// RepairInterval is how often the engine looks for chains whose head
	// lost its job (default RepairIntervalDefault).
	RepairInterval time.Duration
	// RetryFor is how long an operation keeps retrying transient failures
	// after its first failed attempt (its retry_deadline); then it ends
	// FAILED with the last error (default RetryForDefault). The queue's
	// MaxAttempts bounds the attempts as well.
	RetryFor time.Duration
	// StatusCacheTTL is how long Status reuses a DescribeSecret answer
	// (default StatusCacheTTLDefault; negative: never, every Status calls
	// AWS). See statusCache for when an answer is dropped sooner.
	StatusCacheTTL time.Duration
	// OperationCacheSize is how many finished operations reads keep
	// decoded (default OperationCacheSizeDefault; negative: none, every
	// read queries PostgreSQL). See opCache for why that is safe.
	OperationCacheSize int
	// AcceptCommitters, AcceptBatch and AcceptWindow shape the group
	// commit of accepts (defaults AcceptCommittersDefault,
	// AcceptBatchDefault, and no window): up to AcceptCommitters
	// transactions commit at once, each holding up to AcceptBatch accepts,
	// those queued when it started, or arriving within AcceptWindow of its
	// first.
	AcceptCommitters, AcceptBatch int
	AcceptWindow                  time.Duration
	// Queue configures the worker pool.
	Queue queue.Config
	// Observer, if set, hears about finished operations.
	Observer Observer
	// ApprovalSweep is how often the engine cancels operations whose
	// approval expired (default ApprovalSweepDefault).
	ApprovalSweep time.Duration
	// Auditor, if set, records approval events (the audit trail).
	Auditor ApprovalAuditor
	// TracerProvider traces executions (default: none).
	TracerProvider trace.TracerProvider
	// WriteRate is the configured write budget per (account, Region), in
	// calls per second for the whole deployment (negative: unbounded);
	// policies' shares, plans and estimates are computed from it (default
	// awssm.WriteRateDefault).
	WriteRate float64
	// ReconcileInterval is how often ENFORCE policies are reconciled
	// (default ReconcileIntervalDefault; negative: never).
	ReconcileInterval time.Duration
	// PolicyRetryBackoff is how long reconciliation waits before trying
	// again what one of its operations failed to do (default
	// PolicyRetryBackoffDefault).
	PolicyRetryBackoff time.Duration
	// Logger receives the engine's logs.
	Logger *slog.Logger
	// NoInventoryRefresh turns off the DescribeSecret that records, in the
	// inventory, the secret an operation changed when it ends.
	NoInventoryRefresh bool
	// DriftInterval is how often the inventory rows whose stored drift is
	// stale are recomputed in the background, besides right after each
	// policy write (default DriftIntervalDefault; negative: never in the
	// background, only after an operation's refresh, for GetSecret and
	// before drift-filtered reads).
	DriftInterval time.Duration
}

// Engine accepts and executes operations.
type Engine struct {
	api    *pgxpool.Pool // requests: accepts, reads, cancels
	work   *pgxpool.Pool // the queue and its workers
	store  *store.Store
	queue  *queue.Queue
	sm     SecretsManager
	box    *seal.Box
	red    *redact.Redactor
	cfg    Config
	log    *slog.Logger
	tracer trace.Tracer
	wait   *waiters
	status *statusCache
	ops    *opCache
	accept *committer
	// keys resolves KMS aliases per (account, Region); nil when the AWS
	// adapter cannot (aliases then compare as written).
	keys *keyCache
	// driftNudge wakes the drift loop after a policy write.
	driftNudge chan struct{}
	// reconcileNow wakes the reconciliation loop when a policy was created
	// or changed, so that its first round does not wait for the next tick.
	reconcileNow chan struct{}
}

// New returns an Engine. api serves requests; work is the queue's own pool.
func New(api, work *pgxpool.Pool, box *seal.Box, red *redact.Redactor, sm SecretsManager, cfg Config) (*Engine, error) {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.ReplicationDeadline, ReplicationDeadlineDefault)
	def(&cfg.PollInitial, PollInitialDefault)
	def(&cfg.PollMax, PollMaxDefault)
	if cfg.WaitReadRate == 0 {
		cfg.WaitReadRate = WaitReadRateDefault
	}
	def(&cfg.RepairInterval, RepairIntervalDefault)
	def(&cfg.RetryFor, RetryForDefault)
	def(&cfg.ApprovalSweep, ApprovalSweepDefault)
	def(&cfg.ReconcileInterval, ReconcileIntervalDefault)
	def(&cfg.PolicyRetryBackoff, PolicyRetryBackoffDefault)
	def(&cfg.DriftInterval, DriftIntervalDefault)
	if cfg.WriteRate == 0 {
		cfg.WriteRate = awssm.WriteRateDefault
	}
	def(&cfg.StatusCacheTTL, StatusCacheTTLDefault)
	if cfg.OperationCacheSize == 0 {
		cfg.OperationCacheSize = OperationCacheSizeDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Queue.Logger == nil {
		cfg.Queue.Logger = cfg.Logger
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = noop.NewTracerProvider()
	}
	e := &Engine{api: api, work: work, store: store.New(box), sm: sm, box: box, red: red, cfg: cfg, log: cfg.Logger, wait: newWaiters(),
		status: newStatusCache(cfg.StatusCacheTTL), ops: newOpCache(cfg.OperationCacheSize), reconcileNow: make(chan struct{}, 1),
		tracer: cfg.TracerProvider.Tracer("github.com/replicad/replicad/internal/engine")}
	e.driftNudge = make(chan struct{}, 1)
	if kr, ok := sm.(KeyResolver); ok {
		e.keys = newKeyCache(kr, cfg.Logger, red)
	}
	q, err := queue.New(work, e, cfg.Queue)
	if err != nil {
		return nil, err
	}
	e.queue = q
	if cfg.AcceptCommitters <= 0 {
		cfg.AcceptCommitters = AcceptCommittersDefault
	}
	if cfg.AcceptBatch <= 0 {
		cfg.AcceptBatch = AcceptBatchDefault
	}
	e.accept = newCommitter(e, cfg.AcceptCommitters, cfg.AcceptBatch, cfg.AcceptWindow)
	return e, nil
}

// Close stops accepting operations, once those already handed to the
// group commit are committed. Call it after the API stopped serving.
func (e *Engine) Close() { e.accept.close() }

// Run works operations until ctx ends, then drains: running executions get
// drain to finish before their contexts are cancelled and they hand their
// jobs back. It returns once every worker has stopped.
func (e *Engine) Run(ctx context.Context, drain time.Duration) error {
	if err := e.queue.Start(ctx); err != nil {
		return err
	}
	repairDone := make(chan struct{})
	go func() {
		defer close(repairDone)
		e.repairLoop(ctx)
	}()
	expiryDone := make(chan struct{})
	go func() {
		defer close(expiryDone)
		e.approvalExpiryLoop(ctx)
	}()
	reconcileDone := make(chan struct{})
	go func() {
		defer close(reconcileDone)
		e.reconcileLoop(ctx)
	}()
	driftDone := make(chan struct{})
	go func() {
		defer close(driftDone)
		e.driftLoop(ctx)
	}()
	<-ctx.Done()
	<-expiryDone
	<-reconcileDone
	<-driftDone
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	err := e.queue.Stop(stopCtx)
	<-repairDone
	return err
}

// Errors callers map to API errors.
var (
	// ErrRequestIDReused: the request_id was used for a different request.
	ErrRequestIDReused = errors.New("request_id was already used for a different request")
	// ErrTooLate: the operation's mutating AWS call went through, or is
	// under way, so it cannot be cancelled.
	ErrTooLate = errors.New("operation's AWS call went through or is under way")
	// ErrFinished: the operation already ended.
	ErrFinished = errors.New("operation already finished")
	// ErrNotFound: no such operation.
	ErrNotFound = store.ErrNotFound
)

// Submission is a validated request to accept.
type Submission struct {
	Kind   domain.Kind
	Secret secretid.ID
	// AWSRegion is where the mutating call goes.
	AWSRegion string
	Replicas  []domain.ReplicaParam
	Force     bool
	// ReplaceKMSKey (Replicate): remove and re-add a replica found under
	// another key.
	ReplaceKMSKey bool
	Principal     string
	// RequestID, if set, makes the submission idempotent (AIP-155).
	RequestID string
	// Canonical is the request's canonical encoding without its request_id:
	// a replay must match it.
	Canonical         []byte
	ReasonFingerprint string
	// Labels are label keys to fingerprints of their values.
	Labels map[string]string
	// DR, if set, makes a failover parent with this plan (Secret unused).
	DR *domain.DRPlan
	// Audit, if set, is the request's audit event, stored in the
	// transaction that accepts the operation.
	Audit AcceptAudit
	// Approval, if set, holds the operation as AWAITING_APPROVAL until a
	// second person approves it (approval.go); with BreakGlass it runs at
	// once, loudly audited.
	Approval *domain.Approval
	// OriginPolicy names the replication policy creating the operation
	// (reconcile.go); its job and AWS calls then yield to interactive ones.
	OriginPolicy string
	// ValidateOnly answers the operation Submit would accept without
	// storing, queueing or announcing it (AIP-163 validate_only: a plan
	// preview). A request_id already used is answered as the real request
	// would be: its first operation, or ErrRequestIDReused.
	ValidateOnly bool
}

// Submit accepts an operation: when it returns, the operation and its place
// in the secret's queue are committed. A replay of an earlier request_id
// returns the earlier operation and replayed=true.
func (e *Engine) Submit(ctx context.Context, s Submission) (op domain.Operation, replayed bool, err error) {
	if s.RequestID != "" {
		existing, err := e.store.GetByRequestID(ctx, e.api, s.Principal, s.RequestID)
		switch {
		case err == nil:
			return e.replay(existing, s)
		case !errors.Is(err, store.ErrNotFound):
			return domain.Operation{}, false, err
		}
	}
	// A preview has no id: nothing may look it up, and nothing can.
	var id uuid.UUID
	if !s.ValidateOnly {
		if id, err = uuid.NewV7(); err != nil {
			return domain.Operation{}, false, fmt.Errorf("operation id: %w", err)
		}
	}
	op = domain.Operation{
		ID:                id,
		Kind:              s.Kind,
		State:             domain.StatePending,
		SecretKey:         s.Secret.Key(),
		SecretDisplay:     e.red.ARN(s.Secret.Raw),
		AWSRegion:         s.AWSRegion,
		Params:            domain.Params{SecretID: s.Secret.Raw, Replicas: s.Replicas, ReplaceKMSKey: s.ReplaceKMSKey},
		Force:             s.Force,
		Principal:         s.Principal,
		RequestID:         s.RequestID,
		ReasonFingerprint: s.ReasonFingerprint,
		Labels:            s.Labels,
		TraceParent:       tracing.Inject(ctx),
		Approval:          s.Approval,
		OriginPolicy:      s.OriginPolicy,
	}
	if s.DR != nil {
		op.SecretKey, op.SecretDisplay = failoverKey(op.ID), failoverDisplay(*s.DR)
		op.Params = domain.Params{DR: s.DR}
	}
	if s.Approval != nil && !s.Approval.BreakGlass {
		op.State = domain.StateAwaitingApproval
	}
	for _, r := range s.Replicas {
		op.Regions = append(op.Regions, domain.RegionProgress{Region: r.Region, State: domain.RegionPending})
	}
	if s.ValidateOnly {
		now := time.Now()
		op.CreatedAt, op.UpdatedAt = now, now
		return op, false, nil
	}
	if s.RequestID != "" {
		op.RequestHash = e.box.MAC(s.Canonical)
	}
	// Group-committed with concurrent accepts, in one transaction with the
	// request's audit event (committer).
	err = e.accept.accept(ctx, &accepting{op: &op, audit: s.Audit})
	if errors.Is(err, store.ErrDuplicateRequestID) {
		// A concurrent request with the same request_id committed first.
		existing, getErr := e.store.GetByRequestID(ctx, e.api, s.Principal, s.RequestID)
		if getErr != nil {
			return domain.Operation{}, false, getErr
		}
		return e.replay(existing, s)
	}
	if err != nil {
		return domain.Operation{}, false, fmt.Errorf("accept operation: %w", err)
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.OperationAccepted(op.Kind)
	}
	e.approvalRequested(ctx, op)
	return op, false, nil
}

func (e *Engine) replay(existing domain.Operation, s Submission) (domain.Operation, bool, error) {
	if !e.box.Verify(s.Canonical, existing.RequestHash) {
		return domain.Operation{}, false, ErrRequestIDReused
	}
	return existing, true, nil
}

// Cancel cancels a PENDING operation, or a RUNNING one between attempts
// while none of its mutating AWS calls has gone through (AIP-151: best
// effort; the attempt that would send the call checks under the same row
// lock, so the cancel wins over the next retry). Cancelling a CANCELLED one
// returns it unchanged; a RUNNING one whose call went through or is under
// way gives ErrTooLate, a finished one ErrFinished.
func (e *Engine) Cancel(ctx context.Context, id uuid.UUID) (domain.Operation, error) {
	op, err := e.store.Get(ctx, e.api, id)
	if err != nil {
		return domain.Operation{}, err
	}
	// cancelled: this call ended the operation (not one before it), so it
	// is counted as finished once.
	cancelled := false
	err = pgx.BeginFunc(ctx, e.api, func(tx pgx.Tx) error {
		cancelled = false
		// Lock order everywhere: the secret's queue lock, then the row.
		if err := store.LockSecret(ctx, tx, op.SecretKey); err != nil {
			return err
		}
		if op, err = e.store.GetForUpdate(ctx, tx, id); err != nil {
			return err
		}
		switch op.State {
		case domain.StateCancelled:
			return nil
		case domain.StateSucceeded, domain.StateFailed:
			return ErrFinished
		case domain.StateRunning:
			if op.Mutation != domain.MutationNone {
				return ErrTooLate
			}
		}
		wasHead := op.JobID != 0
		if wasHead {
			// A job waiting to retry is cancelled at once; one executing
			// an attempt has its context cancelled, and its next begin sees
			// this cancel before any mutating call.
			if err := e.queue.CancelTx(ctx, tx, op.JobID); err != nil {
				return err
			}
		}
		msg := "cancelled by request before its AWS call started"
		if op.State == domain.StateRunning {
			msg = "cancelled by request between attempts: none of its AWS calls that change the secret had gone through"
		}
		op.State, op.EndedAt, op.NextAttemptAt = domain.StateCancelled, time.Now(), time.Time{}
		op.Error = &domain.Error{Code: domain.CodeCancelled, Message: msg}
		settleRegions(&op)
		if err := e.store.Update(ctx, tx, &op); err != nil {
			return err
		}
		cancelled = true
		if wasHead {
			return e.startNext(ctx, tx, op.SecretKey)
		}
		return nil
	})
	if err != nil {
		return domain.Operation{}, err
	}
	if e.cfg.Observer != nil && cancelled {
		e.cfg.Observer.OperationFinished(op)
	}
	return op, nil
}

// startNext gives the secret's next pending operation a job. Call it under
// the secret's lock, in the transaction that ends the current head.
func (e *Engine) startNext(ctx context.Context, tx pgx.Tx, secretKey string) error {
	next, err := e.store.NextPending(ctx, tx, secretKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	jobID, err := e.enqueue(ctx, tx, next)
	if err != nil {
		return err
	}
	return e.store.SetJob(ctx, tx, next.ID, jobID)
}

// enqueue gives op a job: a background one for a policy's operation or a failover's child, so
// that interactive operations go first whenever both wait for a worker.
func (e *Engine) enqueue(ctx context.Context, tx pgx.Tx, op domain.Operation) (int64, error) {
	if op.OriginPolicy != "" || op.ParentID != uuid.Nil {
		return e.queue.EnqueueBackgroundTx(ctx, tx, op.ID)
	}
	return e.queue.EnqueueTx(ctx, tx, op.ID)
}

// Get returns an operation; a failover parent comes with its children's
// progress. A finished operation may come from the cache of finished ones
// (opCache), whose entries are shared: callers must not modify it.
func (e *Engine) Get(ctx context.Context, id uuid.UUID) (domain.Operation, error) {
	if op, ok := e.ops.get(opKey{id: id}); ok {
		return op, nil
	}
	op, err := e.store.Get(ctx, e.api, id)
	if err != nil {
		return op, err
	}
	e.ops.put(opKey{id: id}, op)
	return e.withChildren(ctx, op)
}

// recent returns summaries of a secret's most recent operations, newest
// first, as fresh as store.Recent's: which operations and their states come
// from PostgreSQL on every call (a narrow index scan), the summaries of
// finished ones from the cache when it has them (they never change), and
// those of the others, and of finished ones not cached yet, from
// PostgreSQL.
func (e *Engine) recent(ctx context.Context, secretKey string, limit int) ([]domain.Operation, error) {
	if e.ops.max <= 0 {
		return e.store.Recent(ctx, e.api, secretKey, limit)
	}
	refs, err := store.RecentRefs(ctx, e.api, secretKey, limit)
	if err != nil {
		return nil, err
	}
	ops := make([]domain.Operation, len(refs))
	var missing []uuid.UUID
	for i, r := range refs {
		op, ok := domain.Operation{}, false
		if r.State.Terminal() {
			op, ok = e.ops.get(opKey{id: r.ID, summary: true})
		}
		if ok {
			ops[i] = op
		} else {
			missing = append(missing, r.ID)
		}
	}
	if len(missing) == 0 {
		return ops, nil
	}
	read, err := e.store.Summaries(ctx, e.api, missing)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]int, len(read))
	for i := range read {
		byID[read[i].ID] = i
		e.ops.put(opKey{id: read[i].ID, summary: true}, read[i])
	}
	out := ops[:0]
	for i, r := range refs {
		if ops[i].ID == uuid.Nil {
			j, ok := byID[r.ID]
			if !ok {
				continue // gone since the first query (nothing deletes operations today)
			}
			ops[i] = read[j]
		}
		out = append(out, ops[i])
	}
	return out, nil
}

// List returns operations newest first.
func (e *Engine) List(ctx context.Context, f domain.OperationFilter) ([]domain.Operation, error) {
	return e.store.List(ctx, e.api, f)
}

// Status reads a secret's replication from AWS for principal, with its
// recent operations (at most recent, newest first, in summary: see
// store.Recent). A bare name is looked
// up in region; if that finds a replica, the primary is described instead.
// The DescribeSecret answer may be a shared one up to StatusCacheTTL old,
// never one older than a change to the listed operations (statusCache).
// AWS failures are *domain.AWSError.
func (e *Engine) Status(ctx context.Context, principal string, id secretid.ID, region string, recent int) (domain.Secret, []domain.Operation, error) {
	// The operations first: their newest update says which cached answers
	// replicad itself may have made stale, in whichever process. Their
	// summaries only (store.Recent): Status shows no more of them.
	ops, err := e.recent(ctx, id.Key(), recent)
	if err != nil {
		return domain.Secret{}, nil, err
	}
	var notBefore time.Time
	for _, op := range ops {
		if op.UpdatedAt.After(notBefore) {
			notBefore = op.UpdatedAt
		}
	}
	sec, err := e.status.get(ctx, id.Key(), id.Raw, region, notBefore, func(ctx context.Context) (domain.Secret, error) {
		return e.Describe(ctx, principal, id, region)
	})
	if err != nil {
		return domain.Secret{}, nil, err
	}
	return sec, ops, nil
}

// Describe reads a secret's replication from AWS for principal, uncached. A
// bare name is looked up in region; if that finds a replica, the primary is
// described instead. AWS failures are *domain.AWSError.
func (e *Engine) Describe(ctx context.Context, principal string, id secretid.ID, region string) (domain.Secret, error) {
	ctx = awssm.WithCaller(ctx, awssm.Caller{Principal: principal})
	sec, err := e.sm.Describe(ctx, region, id.Raw)
	if err != nil {
		return domain.Secret{}, e.scrub(err, id.Raw)
	}
	if sec.PrimaryRegion != region {
		if sec, err = e.sm.Describe(ctx, sec.PrimaryRegion, inRegion(id, sec.PrimaryRegion)); err != nil {
			return domain.Secret{}, e.scrub(err, id.Raw)
		}
	}
	return sec, nil
}

// scrub turns an AWS error about secretID into what may leave the engine:
// classified, account ids removed from its message and from the secret it
// names.
func (e *Engine) scrub(err error, secretID string) error {
	var ae *awssm.Error
	if errors.As(err, &ae) {
		return &domain.AWSError{API: ae.API, Region: ae.Region, AWSCode: ae.Code, Message: e.red.Text(ae.Message),
			RequestID: ae.RequestID, Code: ae.Class.Code(), Secret: e.red.ARN(secretID)}
	}
	return err
}

// inRegion returns the id naming the same secret in another Region: replicas
// share the primary's name and ARN suffix, with their own Region in the ARN.
func inRegion(id secretid.ID, region string) string {
	if !id.IsARN() {
		return id.Raw
	}
	return "arn:" + id.Partition + ":secretsmanager:" + region + ":" + id.Account + ":secret:" + id.Raw[len("arn:"+id.Partition+":secretsmanager:"+id.Region+":"+id.Account+":secret:"):]
}
