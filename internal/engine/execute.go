package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/queue"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/tracing"
	"github.com/replicad/replicad/store"
)

// maxAWSCalls bounds the calls recorded on one operation: a Replicate that
// polls for its whole deadline makes at most a few hundred.
const maxAWSCalls = 500

// finishTimeout bounds the final transaction, which must run even when the
// job's context was cancelled by a shutdown.
const finishTimeout = 30 * time.Second

// Execute works on one job: it is the queue's Handler. Every step starts
// from what AWS reports (DescribeSecret), so an execution interrupted at any
// point — a crash, a kill -9, a shutdown — is safely redone by the next one.
func (e *Engine) Execute(ctx context.Context, job *queue.Job) error {
	op, err := e.store.Get(ctx, e.work, job.OperationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // nothing to do; the job completes
	}
	if err != nil {
		return err
	}
	if op.State.Terminal() {
		// Cancelled while queued, or finished by an earlier execution whose
		// job completion was lost.
		return e.completeJob(ctx, job)
	}
	// Continue the trace of the request that accepted the operation.
	ctx, span := e.tracer.Start(tracing.Extract(ctx, op.TraceParent), "replicad.operation."+string(op.Kind),
		trace.WithAttributes(
			attribute.String("replicad.operation.id", op.ID.String()),
			attribute.String("replicad.operation.kind", string(op.Kind)),
			attribute.Int("replicad.job.attempt", job.Attempt),
		))
	defer span.End()
	r := &run{e: e, op: op, job: job, resumed: op.State == domain.StateRunning}
	r.op.Attempts++
	ctx = awssm.WithRecorder(ctx, r.record)
	ctx = awssm.WithCaller(ctx, awssm.Caller{Principal: op.Principal, OperationID: op.ID.String()})

	var res result
	switch op.Kind {
	case domain.KindReplicate:
		res, err = r.replicate(ctx)
	case domain.KindRemove:
		res, err = r.remove(ctx)
	case domain.KindPromote:
		res, err = r.promote(ctx)
	default:
		res = failed(domain.CodeInternal, "unknown operation kind %q", op.Kind)
	}
	if err != nil {
		if ctx.Err() != nil {
			// Shutdown or job timeout: hand the job back untouched so the
			// next execution resumes from AWS's state, without spending an
			// attempt.
			_ = r.save(context.WithoutCancel(ctx))
			return queue.Snooze(0)
		}
		if !job.LastAttempt() {
			_ = r.save(ctx)
			// The queue stores and logs this error: only its redacted text
			// may go there.
			return errors.New(e.describeErr(err))
		}
		res = failed(codeOf(err), "gave up after %d attempts: %s", job.Attempt, e.describeErr(err))
	}
	switch {
	case res.terminal:
		e.wait.done(op.ID)
		if err := r.finish(ctx, res); err != nil {
			return err
		}
		if r.mutated || r.resumed {
			// This execution or an earlier one changed the secret.
			e.refreshInventory(ctx, r.op)
		}
		return nil
	case res.snooze > 0:
		// A look that saw nothing new is not written back: the job's
		// schedule is the wait's durable state (waiter.go).
		if !res.unchanged {
			if err := r.save(ctx); err != nil {
				return err
			}
		}
		return queue.Snooze(res.snooze)
	}
	return nil
}

// result is what one execution decided.
type result struct {
	terminal bool
	state    domain.State
	err      *domain.Error
	snooze   time.Duration
	// unchanged: a snooze after a look at AWS that changed nothing.
	unchanged bool
}

func succeeded() result { return result{terminal: true, state: domain.StateSucceeded} }

func failed(code domain.Code, format string, args ...any) result {
	return result{terminal: true, state: domain.StateFailed, err: &domain.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// run is one execution of one operation.
type run struct {
	e   *Engine
	op  domain.Operation
	job *queue.Job
	mu  sync.Mutex // record may be called from SDK goroutines
	// resumed: the operation was RUNNING when loaded; mutated: this
	// execution made a mutating call. Either way it has news to save.
	resumed, mutated bool
}

func (r *run) record(a awssm.Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.op.AWSCalls) >= maxAWSCalls {
		return
	}
	r.op.AWSCalls = append(r.op.AWSCalls, domain.AWSCall{API: a.API, Region: a.Region, RequestID: a.RequestID, ErrorCode: a.ErrorCode, Time: a.Time})
}

// awsResult turns an AWS error into a terminal result, or returns it as a
// transient error for the queue to retry.
func (r *run) awsResult(err error) (result, error) {
	var ae *awssm.Error
	if errors.As(err, &ae) && !ae.Transient() {
		return failed(ae.Class.Code(), "%s", r.e.describeErr(err)), nil
	}
	return result{}, err
}

// describeErr is the redacted, user-facing text of an error.
func (e *Engine) describeErr(err error) string {
	var ae *awssm.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("%s in %s failed: %s: %s", ae.API, ae.Region, ae.Code, e.red.Text(ae.Message))
	}
	return e.red.Text(err.Error())
}

func codeOf(err error) domain.Code {
	var ae *awssm.Error
	if errors.As(err, &ae) {
		return ae.Class.Code()
	}
	return domain.CodeUnavailable
}

// begin moves the operation from PENDING to RUNNING just before its first
// mutating AWS call, unless it was cancelled meanwhile. It reports whether
// the operation may go on.
func (r *run) begin(ctx context.Context) (bool, error) {
	ok := false
	err := pgx.BeginFunc(ctx, r.e.work, func(tx pgx.Tx) error {
		cur, err := r.e.store.GetForUpdate(ctx, tx, r.op.ID)
		if err != nil {
			return err
		}
		if cur.State != domain.StatePending {
			r.op = cur
			return nil
		}
		ok = true
		r.op.State, r.op.StartedAt = domain.StateRunning, time.Now()
		return r.e.store.Update(ctx, tx, &r.op)
	})
	return ok, err
}

// save persists progress without changing the state.
func (r *run) save(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return pgx.BeginFunc(ctx, r.e.work, func(tx pgx.Tx) error {
		cur, err := r.e.store.GetForUpdate(ctx, tx, r.op.ID)
		if err != nil {
			return err
		}
		if cur.State.Terminal() {
			return nil
		}
		r.op.State = cur.State
		if r.op.StartedAt.IsZero() {
			r.op.StartedAt = cur.StartedAt
		}
		return r.e.store.Update(ctx, tx, &r.op)
	})
}

// finish ends the operation and completes its job in one transaction, and
// hands the secret's queue to its next operation.
func (r *run) finish(ctx context.Context, res result) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	err := pgx.BeginFunc(ctx, r.e.work, func(tx pgx.Tx) error {
		if err := store.LockSecret(ctx, tx, r.op.SecretKey); err != nil {
			return err
		}
		cur, err := r.e.store.GetForUpdate(ctx, tx, r.op.ID)
		if err != nil {
			return err
		}
		if cur.State.Terminal() {
			r.op = cur
			return r.job.CompleteTx(ctx, tx)
		}
		now := time.Now()
		r.op.State, r.op.Error, r.op.EndedAt = res.state, res.err, now
		if r.op.StartedAt.IsZero() {
			r.op.StartedAt = now
		}
		if err := r.e.store.Update(ctx, tx, &r.op); err != nil {
			return err
		}
		if err := r.job.CompleteTx(ctx, tx); err != nil {
			return err
		}
		return r.e.startNext(ctx, tx, r.op.SecretKey)
	})
	if err != nil {
		return fmt.Errorf("finish operation %s: %w", r.op.ID, err)
	}
	if r.e.cfg.Observer != nil && r.op.State == res.state {
		r.e.cfg.Observer.OperationFinished(r.op)
	}
	return nil
}

func (e *Engine) completeJob(ctx context.Context, job *queue.Job) error {
	return pgx.BeginFunc(ctx, e.work, func(tx pgx.Tx) error { return job.CompleteTx(ctx, tx) })
}

// describePrimary describes the secret in the operation's Region and checks
// that it is the primary there.
func (r *run) describePrimary(ctx context.Context) (domain.Secret, *result, error) {
	region := r.op.AWSRegion
	sec, err := r.e.sm.Describe(ctx, region, r.op.Params.SecretID)
	if err != nil {
		res, err := r.awsResult(err)
		return sec, &res, err
	}
	switch {
	case sec.Deleted:
		res := failed(domain.CodeFailedPrecondition, "the secret is scheduled for deletion in %s", region)
		return sec, &res, nil
	case sec.PrimaryRegion != region:
		res := failed(domain.CodeFailedPrecondition, "the secret's primary Region is %s, not %s: name the secret by its primary ARN", sec.PrimaryRegion, region)
		return sec, &res, nil
	}
	return sec, nil, nil
}

func (r *run) replicate(ctx context.Context) (result, error) {
	sec, stop, err := r.describePrimary(ctx)
	if stop != nil || err != nil {
		return deref(stop), err
	}
	var add []domain.ReplicaParam
	kms := map[string]string{}
	for _, p := range r.op.Params.Replicas {
		kms[p.Region] = p.KMSKeyID
	}
	if r.op.State == domain.StatePending {
		for i := range r.op.Regions {
			rp := &r.op.Regions[i]
			rep, ok := sec.Replica(rp.Region)
			switch {
			case ok && rep.Status == domain.StatusInSync:
				rp.State, rp.ReplicationStatus, rp.Message = domain.RegionSkipped, string(rep.Status), "already an InSync replica"
			case ok && rep.Status == domain.StatusInProgress:
				// AWS is already replicating there: wait for it, don't ask twice.
				rp.State, rp.ReplicationStatus = domain.RegionRunning, string(rep.Status)
			default:
				// Absent, or Failed earlier: ask AWS (again).
				rp.State = domain.RegionRunning
				add = append(add, domain.ReplicaParam{Region: rp.Region, KMSKeyID: kms[rp.Region]})
			}
		}
		if proceed, err := r.begin(ctx); err != nil || !proceed {
			return r.cancelled(), err
		}
	} else {
		// Resumed after a crash or a snooze: ask again only for Regions the
		// earlier call did not reach.
		for _, rp := range r.op.Regions {
			if _, ok := sec.Replica(rp.Region); rp.State == domain.RegionRunning && !ok {
				add = append(add, domain.ReplicaParam{Region: rp.Region, KMSKeyID: kms[rp.Region]})
			}
		}
	}
	if len(add) > 0 {
		r.mutated = true
		statuses, err := r.e.sm.Replicate(ctx, r.op.AWSRegion, r.op.Params.SecretID, add, r.op.Force)
		if err != nil {
			return r.awsResult(err)
		}
		sec.Replicas = statuses
	}
	return r.poll(ctx, sec)
}

// poll follows DescribeSecret until every requested Region is InSync or
// Failed, polling with exponential backoff within this execution for a
// while, then snoozing so long waits do not hold a worker.
func (r *run) poll(ctx context.Context, sec domain.Secret) (result, error) {
	deadline := r.op.StartedAt.Add(r.e.cfg.ReplicationDeadline)
	inlineUntil := time.Now().Add(r.e.cfg.InlinePoll)
	delay := r.e.cfg.PollInitial
	dirty := false
	for first := true; ; first = false {
		dirty = r.applyReplicas(sec) || dirty
		if res, done := r.replicaOutcome(); done {
			return res, nil
		}
		// Make InProgress visible to GetOperation (and replictl --wait)
		// while AWS works, not only once it is over; but not from the
		// first answer, which may be the last one too: that would cost a
		// transaction per operation when replication is quick.
		if dirty && !first {
			// Only a view of progress: a failed save is retried at the next
			// poll rather than costing the execution an attempt.
			if err := r.save(ctx); err != nil {
				r.e.log.Warn("save operation progress", "operation", r.op.ID, "error", err)
			} else {
				dirty = false
			}
		}
		if time.Now().After(deadline) {
			return failed(domain.CodeDeadlineExceeded, "replication did not finish within %s; still InProgress: %s",
				r.e.cfg.ReplicationDeadline, strings.Join(r.regionsIn(domain.RegionRunning), ", ")), nil
		}
		if time.Now().Add(delay).After(inlineUntil) {
			return result{snooze: r.e.wait.delay(r.op.ID, time.Now(), r.op.StartedAt, delay, r.e.cfg.PollMax, r.e.cfg.WaitReadRate),
				unchanged: !dirty && r.resumed && !r.mutated}, nil
		}
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, r.e.cfg.PollMax)
		var err error
		if sec, err = r.e.sm.Describe(ctx, r.op.AWSRegion, r.op.Params.SecretID); err != nil {
			return r.awsResult(err)
		}
	}
}

// applyReplicas records what AWS reports for the Regions still running and
// says whether anything changed.
func (r *run) applyReplicas(sec domain.Secret) bool {
	changed := false
	for i := range r.op.Regions {
		rp := &r.op.Regions[i]
		if rp.State != domain.RegionRunning {
			continue
		}
		rep, ok := sec.Replica(rp.Region)
		if !ok {
			continue
		}
		before := *rp
		rp.ReplicationStatus, rp.Message = string(rep.Status), r.e.red.Text(rep.StatusMessage)
		switch rep.Status {
		case domain.StatusInSync:
			rp.State = domain.RegionSucceeded
		case domain.StatusFailed:
			rp.State = domain.RegionFailed
		}
		changed = changed || *rp != before
	}
	return changed
}

func (r *run) replicaOutcome() (result, bool) {
	var failures []string
	for _, rp := range r.op.Regions {
		switch rp.State {
		case domain.RegionRunning, domain.RegionPending:
			return result{}, false
		case domain.RegionFailed:
			failures = append(failures, fmt.Sprintf("%s: %s", rp.Region, rp.Message))
		}
	}
	if len(failures) > 0 {
		return failed(domain.CodeFailedPrecondition, "replication failed in %s", strings.Join(failures, "; ")), true
	}
	return succeeded(), true
}

func (r *run) regionsIn(s domain.RegionState) []string {
	var out []string
	for _, rp := range r.op.Regions {
		if rp.State == s {
			out = append(out, rp.Region)
		}
	}
	return out
}

func (r *run) remove(ctx context.Context) (result, error) {
	sec, stop, err := r.describePrimary(ctx)
	if stop != nil || err != nil {
		return deref(stop), err
	}
	if r.op.State == domain.StatePending {
		for i := range r.op.Regions {
			rp := &r.op.Regions[i]
			if rep, ok := sec.Replica(rp.Region); ok {
				rp.State, rp.ReplicationStatus = domain.RegionRunning, string(rep.Status)
			} else {
				rp.State, rp.Message = domain.RegionSkipped, "not a replica of this secret"
			}
		}
		if proceed, err := r.begin(ctx); err != nil || !proceed {
			return r.cancelled(), err
		}
	}
	var regions []string
	for _, rp := range r.op.Regions {
		if _, ok := sec.Replica(rp.Region); rp.State == domain.RegionRunning && ok {
			regions = append(regions, rp.Region)
		}
	}
	if len(regions) > 0 {
		r.mutated = true
		if _, err := r.e.sm.RemoveRegions(ctx, r.op.AWSRegion, r.op.Params.SecretID, regions); err != nil {
			return r.awsResult(err)
		}
	}
	for i := range r.op.Regions {
		if rp := &r.op.Regions[i]; rp.State == domain.RegionRunning {
			rp.State, rp.ReplicationStatus, rp.Message = domain.RegionSucceeded, "", "replica removed"
		}
	}
	return succeeded(), nil
}

func (r *run) promote(ctx context.Context) (result, error) {
	id, err := secretid.Parse(r.op.Params.SecretID)
	if err != nil {
		// Not retryable: the operation ends with this result.
		return failed(domain.CodeInvalidArgument, "stored secret id no longer parses"), nil //nolint:nilerr // the result carries the failure
	}
	region := r.op.AWSRegion
	replicaID := inRegion(id, region)
	rp := &r.op.Regions[0]
	replica, err := r.e.sm.Describe(ctx, region, replicaID)
	if err != nil {
		return r.awsResult(err)
	}
	if replica.PrimaryRegion == region {
		if r.op.State == domain.StateRunning {
			// An earlier execution's StopReplicationToReplica went through.
			rp.State, rp.Message = domain.RegionSucceeded, "promoted to a standalone secret"
			return succeeded(), nil
		}
		return failed(domain.CodeFailedPrecondition, "the secret in %s is not a replica: it is already a standalone or primary secret", region), nil
	}
	if r.op.State == domain.StatePending {
		primary, err := r.e.sm.Describe(ctx, replica.PrimaryRegion, inRegion(id, replica.PrimaryRegion))
		if err != nil {
			return r.awsResult(err)
		}
		rep, ok := primary.Replica(region)
		if !ok {
			return failed(domain.CodeFailedPrecondition, "the primary in %s lists no replica in %s", replica.PrimaryRegion, region), nil
		}
		rp.ReplicationStatus = string(rep.Status)
		if rep.Status != domain.StatusInSync && !r.op.Force {
			return failed(domain.CodeFailedPrecondition, "the replica in %s is %s, not InSync: promoting it could lose changes; set force to promote anyway", region, rep.Status), nil
		}
		rp.State = domain.RegionRunning
		if proceed, err := r.begin(ctx); err != nil || !proceed {
			return r.cancelled(), err
		}
	}
	r.mutated = true
	if _, err := r.e.sm.StopReplication(ctx, region, replicaID); err != nil {
		return r.awsResult(err)
	}
	rp.State, rp.Message = domain.RegionSucceeded, "promoted to a standalone secret"
	return succeeded(), nil
}

// cancelled is the result for an operation found cancelled at begin: the
// canceller already ended it, so only the job remains to complete.
func (r *run) cancelled() result {
	return result{terminal: true, state: r.op.State, err: r.op.Error}
}

func deref(r *result) result {
	if r == nil {
		return result{}
	}
	return *r
}
