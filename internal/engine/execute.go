package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/kmskey"
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
		// job completion was lost: returning completes the job.
		return nil
	}
	// A policy's calls and a failover's yield to interactive ones within
	// each write budget (awssm.Caller.Background), as their jobs do.
	caller := awssm.Caller{Principal: op.Principal, OperationID: op.ID.String(),
		Background: op.OriginPolicy != "" || op.ParentID != uuid.Nil}
	if d := e.writeTurn(awssm.WithCaller(ctx, caller), op); d > 0 {
		return queue.SnoozeWithin(d)
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
	if len(op.OpenCalls) > 0 {
		// Calls an earlier execution sent without living to record their
		// answer: shown as "outcome unknown", and judged by the steps
		// below, which all start from DescribeSecret, before anything is
		// sent again.
		if err := r.adopt(ctx); err != nil {
			return err
		}
		if r.op.State.Terminal() {
			return nil // another execution finished it: returning completes the job
		}
	}
	// The wait for this attempt is over: whatever this execution writes no
	// longer shows a next attempt time (retry sets a new one).
	wasRetrying := !r.op.NextAttemptAt.IsZero()
	r.op.NextAttemptAt = time.Time{}
	ctx = awssm.WithRecorder(ctx, r.record)
	ctx = awssm.WithCaller(ctx, caller)

	var res result
	switch op.Kind {
	case domain.KindReplicate:
		res, err = r.replicate(ctx)
	case domain.KindRemove:
		res, err = r.remove(ctx)
	case domain.KindPromote:
		res, err = r.promote(ctx)
	case domain.KindFailover, domain.KindFailback:
		if op.ParentID == uuid.Nil {
			res, err = r.failoverParent(ctx)
		} else {
			res, err = r.failoverChild(ctx)
		}
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
		var retryAt error
		if res, retryAt = r.retry(ctx, err); retryAt != nil {
			return retryAt
		}
	}
	switch {
	case res.terminal:
		e.wait.done(op.ID)
		if err := r.finish(ctx, res); err != nil {
			return err
		}
		if (r.mutated || r.resumed) && !r.inventoried {
			// This execution or an earlier one may have changed the secret,
			// and ListSecrets lags; one that sent no write (refused, nothing
			// to do, the secret not found) costs no extra read.
			e.refreshInventory(ctx, r.op, r.lastLook())
		}
		return nil
	case res.snooze > 0:
		// A look that saw nothing new is not written back: the job's
		// schedule is the wait's durable state (waiter.go).
		if !res.unchanged || wasRetrying {
			if err := r.save(ctx); err != nil {
				return err
			}
		}
		if res.turn {
			return queue.SnoozeWithin(res.snooze)
		}
		return queue.Snooze(res.snooze)
	}
	return nil
}

// writeTurn is how long a first execution of a Replicate, Remove or Promote
// should snooze before it is its turn in its write budget's line (0: go
// on). Waiting for the budget is done snoozed, not on a worker, as a
// failover child's is: with a backlog in one budget, every worker would
// otherwise sit in that budget's line, and the operations already written
// would wait behind the whole backlog for the look that ends them, since
// the queue fetches the oldest jobs first. Asked before anything else, so
// an operation sent away costs no transaction and no AWS call.
func (e *Engine) writeTurn(ctx context.Context, op domain.Operation) time.Duration {
	switch op.Kind {
	case domain.KindReplicate, domain.KindRemove, domain.KindPromote:
	default:
		return 0 // failovers book their turns step by step (failover.go)
	}
	if op.State != domain.StatePending {
		return 0 // resumed: its write may already be sent, or needs no turn
	}
	return e.sm.WriteTurn(ctx, op.AWSRegion, op.Params.SecretID, budgetWaitMax)
}

// result is what one execution decided.
type result struct {
	terminal bool
	state    domain.State
	err      *domain.Error
	snooze   time.Duration
	// unchanged: a snooze after a look at AWS that changed nothing.
	unchanged bool
	// turn: the snooze is until a place in a write budget's line, which
	// the job must be back for (queue.SnoozeWithin), not a look's delay.
	turn bool
}

func succeeded() result { return result{terminal: true, state: domain.StateSucceeded} }

func failed(code domain.Code, format string, args ...any) result {
	return result{terminal: true, state: domain.StateFailed, err: &domain.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// retry handles a transient failure of this execution: it records the
// failure on the operation for its users (last_attempt_error, the next
// attempt's time, the retry deadline) and hands the job back to the queue
// to retry at exactly the time shown, or, once the attempts or the retry
// deadline are spent, returns the failed result that ends the operation.
func (r *run) retry(ctx context.Context, err error) (result, error) {
	now := time.Now()
	code, desc := codeOf(err), r.e.describeErr(err)
	r.mu.Lock()
	r.op.LastAttemptError = &domain.Error{Code: code, Message: desc}
	if r.op.RetryDeadline.IsZero() {
		// The retry clock starts at the first failure, not at acceptance:
		// time spent queued behind other operations is not retrying.
		r.op.RetryDeadline = now.Add(r.e.cfg.RetryFor)
	}
	deadline := r.op.RetryDeadline
	r.mu.Unlock()
	switch {
	case r.job.LastAttempt():
		return failed(code, "gave up after %d attempts: %s", r.job.Attempt, desc), nil
	case !now.Before(deadline):
		return failed(code, "gave up at its retry deadline %s, after %d attempts: %s",
			deadline.UTC().Format(time.RFC3339), r.job.Attempt, desc), nil
	}
	// The last attempt runs at the deadline rather than never.
	next := r.job.NextRetry(now)
	if next.After(deadline) {
		next = deadline
	}
	r.mu.Lock()
	r.op.NextAttemptAt = next
	r.mu.Unlock()
	if err := r.save(ctx); err != nil {
		// The queue retries on its own schedule; the operation shows the
		// previous attempt's state until an execution saves again.
		return result{}, fmt.Errorf("save retrying operation: %w", err)
	}
	// The queue stores and logs this error: only its redacted text may go
	// there.
	return result{}, queue.RetryAt(next, errors.New(desc))
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
	// keys (Replicate) are the requested KMS keys by Region; account is
	// the secret's account, where bare key ids and aliases resolve.
	keys    map[string]string
	account string
	// look is the run's latest DescribeSecret answer for the operation's
	// own secret in its Region, when no write has been sent since: the
	// state the operation ended on, which the inventory refresh can store
	// without asking AWS again. Guarded by mu.
	look *look
	// stored is the intent beginWith committed for the call about to be
	// sent; closing, the outcomes of sent calls that the operation's next
	// write stores (intended). Guarded by mu.
	stored  *domain.Intent
	closing []store.IntentOutcome
	// inventoried: finish stored the run's last look as the secret's
	// inventory row, so no refresh follows.
	inventoried bool
}

// look is one DescribeSecret answer and when it was asked for.
type look struct {
	sec domain.Secret
	at  time.Time
}

func (r *run) record(a awssm.Attempt) {
	if a.API != "DescribeSecret" {
		// A mutating call (whatever its outcome): Status must ask AWS
		// again rather than show what this call may have changed.
		r.e.status.invalidate(r.op.SecretKey)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.API != "DescribeSecret" {
		r.look = nil
	}
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
		if ae.Class == awssm.ClassNotFound {
			// Say which secret, as the caller named it (account
			// fingerprinted): AWS's own message never does.
			return failed(ae.Class.Code(), "secret %s not found in %s: %s", r.op.SecretDisplay, ae.Region, r.e.describeErr(err)), nil
		}
		return failed(ae.Class.Code(), "%s", r.e.describeErr(err)), nil
	}
	return result{}, err
}

// sent records how the operation's mutating call ended: AWS took it, AWS
// refused it with an answer (nothing changed: a RUNNING operation may be
// cancelled before the next attempt), or no answer came (it may have gone
// through: too late to cancel).
func (r *run) sent(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ae *awssm.Error
	switch {
	case err == nil:
		r.op.Mutation = domain.MutationApplied
	case errors.As(err, &ae) && ae.RequestID != "" && r.op.Mutation == domain.MutationSending:
		r.op.Mutation = domain.MutationNone
	}
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
// mutating AWS call and, when sending, records that call as being sent —
// unless the operation was cancelled meanwhile. Under the row's lock, so a
// cancel and the call cannot both win: a cancel that committed first is
// seen here and the call is never sent; one that comes after sees the call
// under way and is refused (Engine.Cancel). A resumed RUNNING operation
// calls it before each retried mutating call. It reports whether the
// operation may go on.
func (r *run) begin(ctx context.Context, sending bool) (bool, error) {
	return r.beginWith(ctx, sending, nil)
}

// beginWith is begin, storing first (the intent of the call about to be
// sent, when known) in the same commit: one round trip and one commit
// where the RUNNING transition and the write-ahead intent took two
// transactions. The intent is stored only if the operation may go on.
func (r *run) beginWith(ctx context.Context, sending bool, first *domain.Intent) (bool, error) {
	r.mu.Lock()
	if r.op.State == domain.StatePending {
		r.op.State, r.op.StartedAt = domain.StateRunning, time.Now()
	}
	if sending && r.op.Mutation != domain.MutationApplied {
		// An earlier call that went through stays recorded: a retry
		// for the Regions it did not reach cannot make the operation
		// cancellable again.
		r.op.Mutation = domain.MutationSending
	}
	b := &pgx.Batch{}
	var act store.Active
	if err := r.e.store.QueueUpdateActive(b, &r.op, false, &act); err != nil {
		r.mu.Unlock()
		return false, err
	}
	closing := r.queueClosing(b)
	if first != nil {
		store.QueueInsertIntent(b, *first)
	}
	// Outside a transaction the batch is one implicit transaction: the
	// state, the intent and the closed intents commit together.
	err := r.e.work.SendBatch(ctx, b).Close()
	r.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("begin operation %s: %w", r.op.ID, err)
	}
	r.closed(closing)
	if !act.Matched {
		// Cancelled meanwhile (rare): take the row as it now is.
		cur, err := r.e.store.Get(ctx, r.e.work, r.op.ID)
		if err != nil {
			return false, err
		}
		r.mu.Lock()
		r.op = cur
		r.mu.Unlock()
		return false, nil
	}
	if first != nil {
		r.mu.Lock()
		r.stored = first
		r.mu.Unlock()
	}
	return true, nil
}

// inventoryRow is the inventory row finish stores with the operation's end,
// or nil: the run's last look at its secret, taken after its last write,
// when refreshInventory would store just that (no further call). Call it
// with r.mu held.
func (r *run) inventoryRow() *domain.InventorySecret {
	op := r.op
	if r.e.cfg.NoInventoryRefresh || op.Params.SecretID == "" || op.Kind == domain.KindPromote ||
		!(r.mutated || r.resumed) || r.look == nil || r.look.sec.PrimaryRegion != op.AWSRegion {
		return nil
	}
	row := domain.InventoryFromSecret(r.look.sec, r.look.at)
	return &row
}

// intent is a new write-ahead intent for a mutating call of this
// operation.
func (r *run) intent(api, region string, targets []string) *domain.Intent {
	return &domain.Intent{ID: uuid.Must(uuid.NewV7()), OperationID: r.op.ID, API: api, Region: region, Targets: targets, StartedAt: time.Now()}
}

// queueClosing queues in b the outcomes of the calls sent since the last
// write, and returns them for closed. Call it with r.mu held.
func (r *run) queueClosing(b *pgx.Batch) []store.IntentOutcome {
	closing := r.closing
	for _, o := range closing {
		store.QueueCompleteIntent(b, o)
	}
	return closing
}

// closed forgets outcomes that a committed write stored.
func (r *run) closed(done []store.IntentOutcome) {
	if len(done) == 0 {
		return
	}
	r.mu.Lock()
	r.closing = slices.Delete(r.closing, 0, len(done))
	r.mu.Unlock()
}

// intended sends one mutating AWS call with a write-ahead intent: the
// intent is committed before send runs (by beginWith when it stored this
// very call's intent, else here), and its outcome is stored with the
// operation's next write (the progress save or the final transaction, one
// of which always follows). If the intent cannot be stored the call is not
// sent. A call cut off by the end of ctx, or whose outcome is lost with the
// process before that write, keeps its intent open: whether AWS received
// it is unknown, and the next execution adopts it.
func (r *run) intended(ctx context.Context, api, region string, targets []string, send func() error) error {
	r.mu.Lock()
	in := r.stored
	r.stored = nil
	r.mu.Unlock()
	if in == nil || in.API != api || in.Region != region || !slices.Equal(in.Targets, targets) {
		if in != nil {
			// beginWith stored the intent of a call that is not this one
			// (the plan changed): it was never sent, but stays open, and
			// the next execution shows it as of unknown outcome; safe.
			r.e.log.Warn("intent stored for another call", "operation", r.op.ID, "api", in.API)
		}
		in = r.intent(api, region, targets)
		if err := store.InsertIntent(ctx, r.e.work, *in); err != nil {
			return err
		}
	}
	err := send()
	if ctx.Err() != nil {
		return err
	}
	outcome, requestID, code := store.OutcomeSucceeded, "", ""
	if err != nil {
		outcome = store.OutcomeFailed
	}
	r.mu.Lock()
	for i := len(r.op.AWSCalls) - 1; i >= 0; i-- {
		if c := r.op.AWSCalls[i]; c.API == api && !c.OutcomeUnknown {
			requestID, code = c.RequestID, c.ErrorCode
			break
		}
	}
	r.closing = append(r.closing, store.IntentOutcome{ID: in.ID, Outcome: outcome, RequestID: requestID, ErrorCode: code})
	r.mu.Unlock()
	return err
}

// adopt records the operation's open intents as calls of unknown outcome,
// durably, and closes them.
func (r *run) adopt(ctx context.Context) error {
	for _, c := range r.op.OpenCalls {
		r.e.log.Warn("aws_call_outcome_unknown", "operation", r.op.ID, "api", c.API, "region", c.Region, "sent", c.Time)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return pgx.BeginFunc(ctx, r.e.work, func(tx pgx.Tx) error {
		cur, err := r.e.store.GetForUpdate(ctx, tx, r.op.ID)
		if err != nil {
			return err
		}
		if cur.State.Terminal() {
			// Ended since this execution read it (another execution of
			// the same job finished it): a terminal row is never written
			// again, which is what lets readers keep it (opCache).
			r.op = cur
			return nil
		}
		if err := store.AdoptOpenIntents(ctx, tx, r.op.ID); err != nil {
			return err
		}
		r.op.AWSCalls = append(cur.AWSCalls, cur.OpenCalls...)
		r.op.OpenCalls = nil
		r.op.State, r.op.Regions = cur.State, cur.Regions
		return r.e.store.Update(ctx, tx, &r.op)
	})
}

// save persists progress without changing the state, with the outcomes of
// the calls sent since the last write, in one round trip and one commit.
// An operation ended meanwhile (cancelled) is left as stored.
func (r *run) save(ctx context.Context) error {
	r.mu.Lock()
	b := &pgx.Batch{}
	var act store.Active
	if err := r.e.store.QueueUpdateActive(b, &r.op, true, &act); err != nil {
		r.mu.Unlock()
		return err
	}
	closing := r.queueClosing(b)
	err := r.e.work.SendBatch(ctx, b).Close()
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save operation %s: %w", r.op.ID, err)
	}
	r.closed(closing)
	return nil
}

// finish ends the operation and hands the secret's queue to its next
// operation in one transaction, under the secret's lock. The job itself is
// completed by the queue once Execute returns (River's batched completer):
// a crash before that leaves a job whose next execution finds the
// operation ended and only completes it.
func (r *run) finish(ctx context.Context, res result) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.op
	now := time.Now()
	r.op.State, r.op.Error, r.op.EndedAt = res.state, res.err, now
	if r.op.StartedAt.IsZero() {
		r.op.StartedAt = now
	}
	settleRegions(&r.op)
	var closing []store.IntentOutcome
	err := pgx.BeginFunc(ctx, r.e.work, func(tx pgx.Tx) error {
		// Lock order everywhere: the secret's queue lock, then the row.
		b := &pgx.Batch{}
		store.QueueLockSecret(b, r.op.SecretKey)
		var act store.Active
		if err := r.e.store.QueueUpdateActive(b, &r.op, false, &act); err != nil {
			return err
		}
		closing = r.queueClosing(b)
		var next *store.Head
		store.QueueNextPendingHead(b, r.op.SecretKey, &next)
		// A job id for the next operation, reserved in the same round
		// trip; unused when there is none (a gap in River's sequence).
		var ids []int64
		queue.QueueReserveIDs(b, 1, &ids)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if !act.Matched {
			// Ended meanwhile (a cancel, or an earlier execution whose
			// job completion was lost): keep what is stored; whoever ended
			// it handed the queue on.
			cur, err := r.e.store.Get(ctx, tx, r.op.ID)
			if err != nil {
				return err
			}
			r.op = cur
			return nil
		}
		inv := r.inventoryRow()
		if next == nil && inv == nil {
			return nil
		}
		b = &pgx.Batch{}
		handed := true
		if next != nil {
			if err := r.e.queue.QueueInsert(b, ids, []queue.NewJob{{OperationID: next.ID, Background: next.Background}}); err != nil {
				return err
			}
			handed = false
			store.QueueSetJob(b, next.ID, ids[0])
			b.Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { handed = true; return nil })
		}
		if inv != nil {
			// The inventory refresh rides in this commit, under a
			// savepoint: it is best effort, and a row the database
			// refuses must not keep the operation from ending.
			b.Queue(`SAVEPOINT inventory`)
			if err := store.QueueUpsertInventory(b, *inv); err != nil {
				return err
			}
			b.Queue(`RELEASE SAVEPOINT inventory`)
		}
		err := tx.SendBatch(ctx, b).Close()
		switch {
		case err == nil:
			r.inventoried = inv != nil
			return nil
		case !handed || inv == nil:
			return err
		}
		r.e.log.WarnContext(ctx, "inventory refresh after an operation failed", "operation_id", r.op.ID.String(), "error", r.e.red.Text(err.Error()))
		if _, rerr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT inventory`); rerr != nil {
			return errors.Join(err, rerr)
		}
		return nil
	})
	if err != nil {
		r.op = prev
		return fmt.Errorf("finish operation %s: %w", r.op.ID, err)
	}
	if len(closing) > 0 {
		r.closing = slices.Delete(r.closing, 0, len(closing))
	}
	r.e.status.invalidate(r.op.SecretKey)
	if r.e.cfg.Observer != nil && r.op.State == res.state {
		r.e.cfg.Observer.OperationFinished(r.op)
	}
	return nil
}

// describePrimary describes the secret in the operation's Region and checks
// that it is the primary there.
func (r *run) describePrimary(ctx context.Context) (domain.Secret, *result, error) {
	region := r.op.AWSRegion
	sec, err := r.describeOwn(ctx)
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
	r.keys = map[string]string{}
	for _, p := range r.op.Params.Replicas {
		r.keys[p.Region] = p.KMSKeyID
	}
	// The account a bare key id or alias resolves in (kmskey's reading):
	// the secret's, as the ARN DescribeSecret answers with names it.
	if id, err := secretid.Parse(sec.ARN); err == nil {
		r.account = id.Account
	}
	var add []domain.ReplicaParam
	var replace []string
	if r.op.State == domain.StatePending {
		var mismatches []string
		for i := range r.op.Regions {
			rp := &r.op.Regions[i]
			want := r.keys[rp.Region]
			rep, ok := sec.Replica(rp.Region)
			if ok && rep.Status != domain.StatusFailed && !kmskey.Same(want, rep.KMSKeyID, rp.Region, r.account) {
				// Not provably the requested key (kmskey): refused unless the
				// request asks to replace it, never silently kept.
				have := r.showKey(rep.KMSKeyID)
				rp.ReplicationStatus = string(rep.Status)
				if !r.op.Params.ReplaceKMSKey {
					rp.State = domain.RegionFailed
					rp.Message = fmt.Sprintf("the replica is under KMS key %s, not the requested %s; set replace_kms_key to remove it and add it again under the requested key",
						have, r.showKey(want))
					mismatches = append(mismatches, fmt.Sprintf("the replica in %s is under %s, the request asks for %s", rp.Region, have, r.showKey(want)))
					continue
				}
				rp.State, rp.KeyReplace, rp.ReplacedKMSKey = domain.RegionRunning, domain.KeyReplaceRemoving, have
				rp.Message = r.replaceMessage(*rp, "")
				replace = append(replace, rp.Region)
				continue
			}
			switch {
			case ok && rep.Status == domain.StatusInSync:
				rp.State, rp.ReplicationStatus, rp.Message = domain.RegionSkipped, string(rep.Status), "already an InSync replica under the requested KMS key"
			case ok && rep.Status == domain.StatusInProgress:
				// AWS is already replicating there: wait for it, don't ask twice.
				rp.State, rp.ReplicationStatus = domain.RegionRunning, string(rep.Status)
			default:
				// Absent, or Failed earlier: ask AWS (again).
				rp.State = domain.RegionRunning
				add = append(add, domain.ReplicaParam{Region: rp.Region, KMSKeyID: want})
			}
		}
		if len(mismatches) > 0 {
			// Refused before any mutating call: nothing changed anywhere.
			for i := range r.op.Regions {
				if rp := &r.op.Regions[i]; rp.State == domain.RegionRunning {
					rp.State, rp.Message = domain.RegionNotAttempted, "not attempted: the operation was refused for a KMS key mismatch in another Region"
				}
			}
			return failed(domain.CodeFailedPrecondition, "KMS key mismatch: %s; nothing was changed (set replace_kms_key to remove and re-add these replicas under the requested keys)",
				strings.Join(mismatches, "; ")), nil
		}
		if proceed, err := r.beginWith(ctx, len(add) > 0 || len(replace) > 0, r.firstIntent(replace, add)); err != nil || !proceed {
			return r.cancelled(), err
		}
	} else {
		// Resumed after a crash or a snooze: ask again only for Regions the
		// earlier calls did not reach.
		for _, rp := range r.op.Regions {
			if rp.State != domain.RegionRunning {
				continue
			}
			rep, ok := sec.Replica(rp.Region)
			switch {
			case rp.KeyReplace == domain.KeyReplaceRemoving && ok && !kmskey.Same(r.keys[rp.Region], rep.KMSKeyID, rp.Region, r.account):
				// The removal did not go through (or was never sent).
				replace = append(replace, rp.Region)
			case !ok:
				add = append(add, domain.ReplicaParam{Region: rp.Region, KMSKeyID: r.keys[rp.Region]})
			}
			// A replica found while re-adding is never removed again, even
			// under another key (an endpoint that ignores KmsKeyId would
			// make that a loop): poll judges it.
		}
		if len(add) > 0 || len(replace) > 0 {
			if proceed, err := r.beginWith(ctx, true, r.firstIntent(replace, add)); err != nil || !proceed {
				return r.cancelled(), err
			}
		}
	}
	if len(replace) > 0 {
		r.mutated = true
		err := r.intended(ctx, domain.APIRemoveRegions, r.op.AWSRegion, replace, func() error {
			_, err := r.e.sm.RemoveRegions(ctx, r.op.AWSRegion, r.op.Params.SecretID, replace)
			return err
		})
		r.sent(err)
		if err != nil {
			res, err := r.awsResult(err)
			if res.terminal {
				r.endReplace(replace, r.e.describeErr(err))
			}
			return res, err
		}
	}
	// Each Region whose old replica is gone moves to re-adding, durably
	// before the re-add is sent: a resumed execution must not remove what
	// it re-added.
	readd := false
	for i := range r.op.Regions {
		rp := &r.op.Regions[i]
		if rp.State != domain.RegionRunning || rp.KeyReplace != domain.KeyReplaceRemoving {
			continue
		}
		if _, ok := sec.Replica(rp.Region); ok && !slices.Contains(replace, rp.Region) {
			continue // already under the requested key: nothing to remove or add
		}
		rp.KeyReplace, rp.ReplicationStatus = domain.KeyReplaceReadding, ""
		rp.Message = r.replaceMessage(*rp, "")
		readd = true
		if !slices.ContainsFunc(add, func(p domain.ReplicaParam) bool { return p.Region == rp.Region }) {
			add = append(add, domain.ReplicaParam{Region: rp.Region, KMSKeyID: r.keys[rp.Region]})
		}
	}
	if readd {
		if err := r.save(ctx); err != nil {
			return result{}, err
		}
	}
	if len(add) > 0 {
		r.mutated = true
		targets := replicaTargets(add)
		var statuses []domain.Replica
		err := r.intended(ctx, domain.APIReplicate, r.op.AWSRegion, targets, func() (err error) {
			statuses, err = r.e.sm.Replicate(ctx, r.op.AWSRegion, r.op.Params.SecretID, add, r.op.Force)
			return err
		})
		r.sent(err)
		if err != nil {
			return r.awsResult(err)
		}
		sec.Replicas = statuses
	}
	return r.poll(ctx, sec)
}

// firstIntent is the intent of a Replicate's first mutating call: the
// removal of replicas under another key if any, else the additions.
func (r *run) firstIntent(replace []string, add []domain.ReplicaParam) *domain.Intent {
	if len(replace) > 0 {
		return r.intent(domain.APIRemoveRegions, r.op.AWSRegion, replace)
	}
	if len(add) == 0 {
		return nil
	}
	return r.intent(domain.APIReplicate, r.op.AWSRegion, replicaTargets(add))
}

func replicaTargets(add []domain.ReplicaParam) []string {
	targets := make([]string, 0, len(add))
	for _, a := range add {
		targets = append(targets, a.Region)
	}
	return targets
}

// showKey is a KMS key as operations show it: the AWS managed key by its
// alias, an ARN with its account fingerprinted (the proto's redaction of
// kms_key_id).
func (r *run) showKey(key string) string { return r.e.red.ARN(kmskey.Display(key)) }

// replaceMessage says where a replacement of a Region's KMS key stands,
// with AWS's status message if it has one.
func (r *run) replaceMessage(rp domain.RegionProgress, aws string) string {
	want := r.showKey(r.keys[rp.Region])
	var msg string
	switch {
	case rp.State == domain.RegionSucceeded:
		msg = fmt.Sprintf("KMS key replaced: the replica under %s was removed and added again under %s", rp.ReplacedKMSKey, want)
	case rp.KeyReplace == domain.KeyReplaceRemoving:
		msg = fmt.Sprintf("replacing the KMS key: removing the replica under %s, then adding it again under %s", rp.ReplacedKMSKey, want)
	default:
		msg = fmt.Sprintf("replacing the KMS key: removed the replica under %s; adding it again under %s", rp.ReplacedKMSKey, want)
	}
	if aws != "" {
		msg += ": " + aws
	}
	return msg
}

// endReplace marks the Regions whose replacement stopped at a failed call.
func (r *run) endReplace(regions []string, why string) {
	for i := range r.op.Regions {
		if rp := &r.op.Regions[i]; slices.Contains(regions, rp.Region) {
			rp.State = domain.RegionFailed
			rp.Message = fmt.Sprintf("replacing the KMS key stopped: %s; the replica under %s is unchanged", why, rp.ReplacedKMSKey)
		}
	}
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
			return result{snooze: r.e.wait.delay(r.op.ID, r.readBudget(), time.Now(), r.waitingSince(), delay, r.e.cfg.PollMax, r.e.cfg.WaitReadRate),
				unchanged: !dirty && r.resumed && !r.mutated}, nil
		}
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, r.e.cfg.PollMax)
		var err error
		if sec, err = r.describeOwn(ctx); err != nil {
			return r.awsResult(err)
		}
	}
}

// readBudget names the (account, Region) whose read budget the
// operation's looks spend: the secret ARN's account ("" for a bare name,
// the ambient account) and the operation's Region.
func (r *run) readBudget() string {
	account := ""
	if id, err := secretid.Parse(r.op.Params.SecretID); err == nil {
		account = id.Account
	}
	return account + "/" + r.op.AWSRegion
}

// describeOwn is DescribeSecret of the operation's secret in its Region,
// remembered as the run's latest look.
func (r *run) describeOwn(ctx context.Context) (domain.Secret, error) {
	at := time.Now()
	sec, err := r.e.sm.Describe(ctx, r.op.AWSRegion, r.op.Params.SecretID)
	if err != nil {
		return sec, err
	}
	r.mu.Lock()
	r.look = &look{sec: sec, at: at}
	r.mu.Unlock()
	return sec, nil
}

// lastLook is the run's latest look at its secret if no write was sent
// after it, else nil.
func (r *run) lastLook() *look {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.look
}

// waitingSince is when the wait for AWS's replication began, which the look
// interval backs off from: the operation's start, or for a failover child
// its replication call. A child waits for the write budget behind the
// whole failover before that call; that wait is not AWS replicating, and
// backing off from it would leave the child's replicas InSync unseen for
// a quarter of it.
func (r *run) waitingSince() time.Time {
	if r.op.ParentID == uuid.Nil {
		return r.op.StartedAt
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.op.AWSCalls) - 1; i >= 0; i-- {
		if c := r.op.AWSCalls[i]; c.API == domain.APIReplicate {
			return c.Time
		}
	}
	return r.op.StartedAt
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
			if want := r.keys[rp.Region]; kmskey.Different(want, rep.KMSKeyID, rp.Region, r.account) {
				// The replica exists, but not under the key asked for: that
				// is not what was requested, so it is not a success. moto
				// does this (it ignores KmsKeyId); on AWS it would mean
				// someone else changed the replica meanwhile.
				rp.State = domain.RegionFailed
				rp.Message = fmt.Sprintf("the replica is InSync but under KMS key %s, not the requested %s: the endpoint did not apply KmsKeyId (moto ignores it)",
					r.showKey(rep.KMSKeyID), r.showKey(want))
				continue
			}
		case domain.StatusFailed:
			rp.State = domain.RegionFailed
		}
		if rp.KeyReplace != "" {
			rp.Message = r.replaceMessage(*rp, rp.Message)
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
	}
	var regions []string
	for _, rp := range r.op.Regions {
		if _, ok := sec.Replica(rp.Region); rp.State == domain.RegionRunning && ok {
			regions = append(regions, rp.Region)
		}
	}
	if r.op.State == domain.StatePending || len(regions) > 0 {
		var first *domain.Intent
		if len(regions) > 0 {
			first = r.intent(domain.APIRemoveRegions, r.op.AWSRegion, regions)
		}
		if proceed, err := r.beginWith(ctx, len(regions) > 0, first); err != nil || !proceed {
			return r.cancelled(), err
		}
	}
	if len(regions) > 0 {
		r.mutated = true
		err := r.intended(ctx, domain.APIRemoveRegions, r.op.AWSRegion, regions, func() error {
			_, err := r.e.sm.RemoveRegions(ctx, r.op.AWSRegion, r.op.Params.SecretID, regions)
			return err
		})
		r.sent(err)
		if err != nil {
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
			r.op.Mutation = domain.MutationApplied
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
	}
	if proceed, err := r.beginWith(ctx, true, r.intent(domain.APIStopReplication, region, []string{region})); err != nil || !proceed {
		return r.cancelled(), err
	}
	r.mutated = true
	err = r.intended(ctx, domain.APIStopReplication, region, []string{region}, func() error {
		_, err := r.e.sm.StopReplication(ctx, region, replicaID)
		return err
	})
	r.sent(err)
	if err != nil {
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

// settleRegions gives every Region of an operation that just ended a
// terminal state that says what happened to it: none is left PENDING or
// RUNNING. Regions already SUCCEEDED, FAILED or SKIPPED keep their state.
func settleRegions(op *domain.Operation) {
	why := ""
	if op.Error != nil {
		why = op.Error.Message
	}
	for i := range op.Regions {
		rp := &op.Regions[i]
		if rp.State.Terminal() {
			continue
		}
		switch {
		case op.State == domain.StateCancelled:
			rp.State = domain.RegionCancelled
			rp.Message = "cancelled before anything changed in this Region: " + why
		case rp.State == domain.RegionPending:
			rp.State = domain.RegionNotAttempted
			rp.Message = "not attempted: " + why
		default:
			// RUNNING: asked of AWS (or about to be) when the operation
			// failed: the call failed, or AWS did not finish in time.
			rp.State = domain.RegionFailed
			if rp.Message == "" {
				rp.Message = why
			} else {
				rp.Message += " (" + why + ")"
			}
		}
	}
}

func deref(r *result) result {
	if r == nil {
		return result{}
	}
	return *r
}
