package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/kmskey"
	"github.com/replicad/replicad/internal/queue"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/store"
)

// A failover is a parent operation with one child operation per planned
// secret. The parent holds the plan (sealed: ARNs, KMS keys) as it was
// shown before anything ran; once it may run (at once, or when approved)
// its first execution creates the children, each an ordinary operation in
// its secret's queue, so a failover step never overtakes, nor is overtaken
// by, another operation on the same secret. The parent then watches its
// children and ends when they all have.

// FailoverSelector says which secrets a failover takes.
type FailoverSelector struct {
	Source, Target string
	// SecretID, if set, is the one secret (ARN in Source, or name).
	SecretID string
	// NameGlobs keep secrets whose name matches one (* and ? only).
	NameGlobs []string
	// Tags keep secrets carrying each tag ("" value: any).
	Tags  map[string]string
	Force bool
}

// budgetWaitMax is how long an operation may wait for a write budget on
// its worker (a failover child for each step, a Replicate, Remove or
// Promote before its first write: writeTurn). A backlog queues far more
// calls than a budget sends in that time; the operations beyond it snooze
// until their place in line comes (awssm.Client.WriteTurn), so the
// workers stay free for interactive operations and for the looks at
// AWS's replication, and the budget still always has calls waiting. It
// bounds the workers held in one budget's line to about its rate × this
// (27 of the default 50 at 45 writes/s); a returning operation comes back
// half of it before its place.
const budgetWaitMax = 600 * time.Millisecond

// childPoll is how often a failover parent looks at its children.
const childPoll = 250 * time.Millisecond

// PlanFailover reads the inventory and plans the failover of every
// selected secret: its steps, or why it is skipped.
func (e *Engine) PlanFailover(ctx context.Context, sel FailoverSelector) (domain.DRPlan, error) {
	plan := domain.DRPlan{Source: sel.Source, Target: sel.Target, Force: sel.Force, Secrets: []domain.DRSecret{}}
	globs := make([]*regexp.Regexp, 0, len(sel.NameGlobs))
	for _, g := range sel.NameGlobs {
		globs = append(globs, globRE(g))
	}
	var one secretid.ID
	if sel.SecretID != "" {
		var err error
		if one, err = secretid.Parse(sel.SecretID); err != nil {
			return plan, fmt.Errorf("secret id: %w", err)
		}
	}
	err := e.eachInventory(ctx, domain.InventoryFilter{PrimaryRegion: sel.Source}, func(sec domain.InventorySecret) {
		switch {
		case sel.SecretID != "" && one.IsARN() && sec.ARN != one.Raw,
			sel.SecretID != "" && !one.IsARN() && sec.Name != one.Raw:
			return
		case len(globs) > 0 && !slices.ContainsFunc(globs, func(g *regexp.Regexp) bool { return g.MatchString(sec.Name) }):
			return
		}
		for k, v := range sel.Tags {
			if got, ok := sec.Tags[k]; !ok || v != "" && got != v {
				return
			}
		}
		steps, skip := planFailover(sec, sel.Source, sel.Target, sel.Force)
		plan.Secrets = append(plan.Secrets, domain.DRSecret{SecretID: sec.ARN, Name: sec.Name, Skip: skip, Steps: steps})
	})
	plan.Estimate = eta(plan.WritesByBudget(), e.cfg.WriteRate)
	return plan, err
}

func (e *Engine) eachInventory(ctx context.Context, f domain.InventoryFilter, fn func(domain.InventorySecret)) error {
	var after *store.InventoryCursor
	for {
		page, next, err := e.store.ListInventory(ctx, e.api, f, after, inventoryPage)
		if err != nil {
			return err
		}
		for _, sec := range page {
			fn(sec)
		}
		if next == nil {
			return nil
		}
		after = next
	}
}

// globRE compiles a name glob: * is any run of characters (slashes too),
// ? any one character, everything else itself.
func globRE(g string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range g {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Readiness is whether the secrets whose primary is in a Region could fail
// over to a target Region now, from the inventory.
type Readiness struct {
	Total int
	Ready []string
	// NotInSync have a replica in target that is InProgress or Failed.
	NotInSync []domain.InventorySecret
	// NoReplica have none there.
	NoReplica []domain.InventorySecret
	// KeyUnusable have an InSync replica in target whose KMS key KMS
	// reports disabled, pending deletion or missing there: promoted, it
	// could not be read.
	KeyUnusable []KeyProblem
}

// KeyProblem is a secret whose replica's KMS key cannot be used.
type KeyProblem struct {
	Secret domain.InventorySecret
	// State is KMS's KeyState, or KeyMissing.
	State string
	// Message says so, the key shown as operations show keys (an ARN's
	// account fingerprinted).
	Message string
}

// KeyMissing is KeyProblem.State for a key KMS says does not exist.
const KeyMissing = "Missing"

// RegionReadiness classifies every live secret with primary in region by
// its replica in target. An InSync replica under a customer managed key is
// ready only if KMS in target reports the key Enabled, where that is
// knowable: a key KMS cannot be asked about (no permission, KMS
// unavailable) leaves the replica ready, and the failure is logged. Each
// distinct key is described once.
func (e *Engine) RegionReadiness(ctx context.Context, region, target string) (Readiness, error) {
	var out Readiness
	var inSync []domain.InventorySecret
	err := e.eachInventory(ctx, domain.InventoryFilter{PrimaryRegion: region}, func(sec domain.InventorySecret) {
		if sec.Deleted {
			return
		}
		out.Total++
		rep, ok := sec.Replica(target)
		switch {
		case !ok:
			out.NoReplica = append(out.NoReplica, sec)
		case rep.Status == domain.StatusInSync:
			inSync = append(inSync, sec)
		default:
			out.NotInSync = append(out.NotInSync, sec)
		}
	})
	if err != nil {
		return out, err
	}
	type keyOf struct{ account, key string }
	states := map[keyOf]string{}
	for _, sec := range inSync {
		rep, _ := sec.Replica(target)
		if rep.KMSKeyID == "" || kmskey.Same(rep.KMSKeyID, kmskey.Managed, target, sec.Account) {
			out.Ready = append(out.Ready, sec.ARN)
			continue // AWS's own key is always there
		}
		k := keyOf{sec.Account, rep.KMSKeyID}
		state, known := states[k]
		if !known {
			state, err = e.sm.KeyState(awssm.WithAccount(ctx, sec.Account), target, rep.KMSKeyID)
			var ae *awssm.Error
			switch {
			case err == nil:
			case errors.As(err, &ae) && ae.Class == awssm.ClassNotFound:
				state = KeyMissing
			case ctx.Err() != nil:
				return out, ctx.Err()
			default:
				// Not knowable: the replica is judged by its status alone.
				e.log.WarnContext(ctx, "readiness: KMS key state unknown", "region", target,
					"key", e.red.ARN(kmskey.Display(rep.KMSKeyID)), "error", e.describeErr(err))
				state = ""
			}
			states[k] = state
		}
		if state == "" || state == "Enabled" {
			out.Ready = append(out.Ready, sec.ARN)
			continue
		}
		shown := e.red.ARN(kmskey.Display(rep.KMSKeyID))
		msg := fmt.Sprintf("the replica's KMS key %s is %s in %s", shown, state, target)
		if state == KeyMissing {
			msg = fmt.Sprintf("the replica's KMS key %s does not exist in %s", shown, target)
		}
		out.KeyUnusable = append(out.KeyUnusable, KeyProblem{Secret: sec, State: state, Message: msg})
	}
	return out, nil
}

// failoverKey is a parent's own queue key: it waits behind nothing.
func failoverKey(id uuid.UUID) string { return "failover:" + id.String() }

// failoverDisplay is a parent's display name, carrying no secret.
func failoverDisplay(p domain.DRPlan) string {
	n := 0
	for _, s := range p.Secrets {
		if s.Skip == "" {
			n++
		}
	}
	if p.Primary != "" {
		return fmt.Sprintf("failback of %d secrets from %s to %s", n, p.Primary, p.Target)
	}
	return fmt.Sprintf("failover of %d secrets from %s to %s", n, p.Source, p.Target)
}

// withChildren fills a failover parent's DR progress from its children.
func (e *Engine) withChildren(ctx context.Context, op domain.Operation) (domain.Operation, error) {
	if op.Params.DR == nil {
		return op, nil
	}
	kids, err := e.store.Children(ctx, e.api, op.ID)
	if err != nil {
		return op, err
	}
	byName := map[string]domain.Operation{}
	for _, k := range kids {
		byName[k.SecretKey] = k
	}
	op.DR = &domain.DRProgress{Plan: *op.Params.DR, Children: map[string]domain.Operation{}}
	for _, s := range op.Params.DR.Secrets {
		if k, ok := byName[s.Name]; ok && s.Skip == "" {
			op.DR.Children[s.SecretID] = k
		}
	}
	return op, nil
}

// failoverParent creates the children on its first execution, then
// watches them.
func (r *run) failoverParent(ctx context.Context) (result, error) {
	if r.op.State == domain.StatePending {
		started := false
		err := pgx.BeginTxFunc(ctx, r.e.work, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			started = false
			cur, err := r.e.store.GetForUpdate(ctx, tx, r.op.ID)
			if err != nil {
				return err
			}
			if cur.State != domain.StatePending {
				r.op = cur
				return nil
			}
			if err := r.e.createChildren(ctx, tx, r.op); err != nil {
				return err
			}
			started = true
			r.op.State, r.op.StartedAt = domain.StateRunning, time.Now()
			return r.e.store.Update(ctx, tx, &r.op)
		})
		if err != nil {
			return result{}, err
		}
		if !started {
			return r.cancelled(), nil
		}
	}
	counts, err := store.ChildStates(ctx, r.e.work, r.op.ID)
	if err != nil {
		return result{}, err
	}
	if counts[domain.StatePending]+counts[domain.StateRunning]+counts[domain.StateAwaitingApproval] > 0 {
		return result{snooze: childPoll, unchanged: true}, nil
	}
	total := counts[domain.StateSucceeded] + counts[domain.StateFailed] + counts[domain.StateCancelled]
	if bad := counts[domain.StateFailed] + counts[domain.StateCancelled]; bad > 0 {
		return failed(domain.CodeAborted, "%d of %d secrets did not fail over; see each secret's steps", bad, total), nil
	}
	return succeeded(), nil
}

// createChildren inserts one child per planned secret, each queued behind
// whatever its secret already has in flight. It costs two round trips
// whatever the number of secrets (as a group commit of accepts does): the
// secrets' locks, in-flight checks and job ids; then the jobs and the
// children. Secret locks are taken in name order, so two failovers over
// overlapping secrets cannot deadlock.
func (e *Engine) createChildren(ctx context.Context, tx pgx.Tx, parent domain.Operation) error {
	plan := parent.Params.DR
	secrets := slices.Clone(plan.Secrets)
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
	var children []*domain.Operation
	for _, s := range secrets {
		if s.Skip != "" {
			continue
		}
		id, err := secretid.Parse(s.SecretID)
		if err != nil {
			return fmt.Errorf("planned secret id: %w", err)
		}
		childID, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("operation id: %w", err)
		}
		// The secret is named in the Region where it is primary once the
		// steps are done: where the last replication is sent from (a
		// failback moving the primary back replicates twice), and its
		// Regions are that replication's targets, waited for at the end.
		primary, last := plan.ChildPrimary(), -1
		for i, st := range s.Steps {
			if st.API == domain.APIReplicate {
				primary, last = st.Region, i
			}
		}
		child := &domain.Operation{
			ID: childID, Kind: parent.Kind, State: domain.StatePending,
			SecretKey: s.Name, SecretDisplay: e.red.ARN(s.SecretID), AWSRegion: primary,
			Params:    domain.Params{SecretID: inRegion(id, primary)},
			Force:     plan.Force,
			Principal: parent.Principal, ParentID: parent.ID, TraceParent: parent.TraceParent,
			Steps: slices.Clone(s.Steps),
		}
		for i, st := range s.Steps {
			if st.API != domain.APIReplicate {
				continue
			}
			for _, t := range st.Targets {
				// Each Region's key, for the poll and the replication calls.
				if !slices.ContainsFunc(child.Params.Replicas, func(p domain.ReplicaParam) bool { return p.Region == t.Region }) {
					child.Params.Replicas = append(child.Params.Replicas, t)
				}
				if i == last {
					child.Regions = append(child.Regions, domain.RegionProgress{Region: t.Region, State: domain.RegionPending})
				}
			}
		}
		children = append(children, child)
	}
	if len(children) == 0 {
		return nil
	}
	keys := make([]string, len(children))
	for i, c := range children {
		keys[i] = c.SecretKey
	}
	first := &pgx.Batch{}
	active := store.QueueLockSecretsActive(first, keys)
	var jobIDs []int64
	queue.QueueReserveIDs(first, len(children), &jobIDs)
	if err := tx.SendBatch(ctx, first).Close(); err != nil {
		return fmt.Errorf("lock secret queues: %w", err)
	}
	var heads []queue.NewJob
	for _, c := range children {
		if active[c.SecretKey] {
			continue // queued behind its secret's operation in flight
		}
		c.JobID = jobIDs[len(heads)]
		heads = append(heads, queue.NewJob{OperationID: c.ID, Background: true})
		active[c.SecretKey] = true
	}
	b := &pgx.Batch{}
	if err := e.queue.QueueInsert(b, jobIDs[:len(heads)], heads); err != nil {
		return err
	}
	for _, c := range children {
		if err := e.store.QueueInsert(b, c); err != nil {
			return err
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert failover children: %w", err)
	}
	return nil
}

// failoverChild runs one secret's steps in order. A step resumed after an
// interruption starts with a DescribeSecret in its own Region (never the
// old primary's), so a step whose call went through before a crash is
// found done and not sent again.
//
// The bookkeeping is kept off the path between the calls, whose pace the
// write budgets set: only the first mutating call is preceded by a
// transaction (begin: a cancel and the call cannot both win). After it the
// child can no longer be cancelled, and a step's progress is saved with
// the next save (the snooze that follows the replication call, or finish):
// a crash in between leaves those steps unfinished in the row, and the
// next execution judges each from DescribeSecret, as above.
func (r *run) failoverChild(ctx context.Context) (result, error) {
	id, err := secretid.Parse(r.op.Params.SecretID)
	if err != nil {
		return failed(domain.CodeInvalidArgument, "stored secret id no longer parses"), nil //nolint:nilerr // the result carries the failure
	}
	for i := range r.op.Steps {
		// Waiting for the budget is done snoozed, not on a worker: before
		// anything else, so a child that goes away costs no transaction.
		if st := r.op.Steps[i]; st.State != domain.StepSucceeded && st.State != domain.StepSkipped {
			if d := r.e.sm.WriteTurn(ctx, st.Region, inRegion(id, st.Region), budgetWaitMax); d > 0 {
				return result{snooze: d, unchanged: true, turn: true}, nil
			}
			break
		}
	}
	if r.op.State == domain.StatePending {
		if proceed, err := r.begin(ctx, false); err != nil || !proceed {
			return r.cancelled(), err
		}
	}
	kms := map[string]string{}
	for _, p := range r.op.Params.Replicas {
		kms[p.Region] = p.KMSKeyID
	}
	// The poll below holds each re-established replica to the key it had
	// (as a Replicate holds its requested keys), in the secret's account.
	r.keys, r.account = kms, id.Account
	var primary *domain.Secret
	// promoted are the Regions whose promotion this execution sent and
	// AWS took: the secret there is standalone with no replicas, so the
	// replication step from it needs no DescribeSecret first.
	promoted := map[string]bool{}
	first := true
	for i := range r.op.Steps {
		st := &r.op.Steps[i]
		if st.State == domain.StepSucceeded || st.State == domain.StepSkipped {
			continue
		}
		if !first {
			if d := r.e.sm.WriteTurn(ctx, st.Region, inRegion(id, st.Region), budgetWaitMax); d > 0 {
				// The steps done so far are saved with the snooze.
				return result{snooze: d, unchanged: !r.mutated, turn: true}, nil
			}
		}
		first = false
		var sec domain.Secret
		if st.API == domain.APIReplicate && st.State == domain.StepPending && promoted[st.Region] {
			sec = domain.Secret{PrimaryRegion: st.Region}
		} else if sec, err = r.e.sm.Describe(ctx, st.Region, inRegion(id, st.Region)); err != nil {
			return r.stepFailed(i, err)
		}
		switch st.API {
		case domain.APIStopReplication:
			if sec.PrimaryRegion == st.Region {
				// Standalone already: promoted by an earlier execution of
				// this step, or by somebody else. No call.
				r.foundDone(st, "already a standalone secret")
				continue
			}
			if from := r.replicatedTo(i); from != "" {
				// A copy this child replicated here (a failback moving the
				// primary back) is promoted only once it is InSync: before,
				// it may lack what the primary holds.
				res, wait, err := r.awaitInSync(ctx, i, id, from)
				if err != nil || res.terminal || wait > 0 {
					if wait > 0 {
						return result{snooze: wait}, nil
					}
					return res, err
				}
			}
			if proceed, err := r.intend(ctx, st); err != nil || !proceed {
				return r.cancelled(), err
			}
			_, err := r.e.sm.StopReplication(ctx, st.Region, inRegion(id, st.Region))
			r.sent(err)
			if err != nil {
				return r.stepFailed(i, err)
			}
			promoted[st.Region] = true
		case domain.APIReplicate:
			if sec.PrimaryRegion != st.Region {
				st.State, st.Message = domain.StepFailed, "the secret here is not a primary: its promotion did not take"
				r.skipAfter(i)
				return failed(domain.CodeFailedPrecondition, "%s in %s: the secret is not a primary there", st.API, st.Region), nil
			}
			var add []domain.ReplicaParam
			for _, t := range st.Targets {
				if _, ok := sec.Replica(t.Region); !ok {
					add = append(add, domain.ReplicaParam{Region: t.Region, KMSKeyID: kms[t.Region]})
				}
			}
			r.markRegionsRunning(st.Targets)
			if len(add) == 0 {
				r.foundDone(st, "every Region is already a replica")
				primary = &sec
				continue
			}
			if proceed, err := r.intend(ctx, st); err != nil || !proceed {
				return r.cancelled(), err
			}
			// Overwrite: each target holds the standalone secret its own
			// promotion left, with the same name.
			statuses, err := r.e.sm.Replicate(ctx, st.Region, inRegion(id, st.Region), add, true)
			r.sent(err)
			if err != nil {
				return r.stepFailed(i, err)
			}
			sec.Replicas = statuses
			primary = &sec
		}
		r.mutated = true
		st.State, st.RequestID, st.Message = domain.StepSucceeded, r.requestID(st.API, st.Region), ""
	}
	if len(r.op.Regions) == 0 {
		return succeeded(), nil
	}
	if primary == nil {
		sec, err := r.e.sm.Describe(ctx, r.op.AWSRegion, r.op.Params.SecretID)
		if err != nil {
			return r.awsResult(err)
		}
		primary = &sec
	}
	// Wait for the re-established replicas like a Replicate does.
	return r.poll(ctx, *primary)
}

// replicatedTo is the Region of an earlier step of this child that
// replicated to step i's Region, or "".
func (r *run) replicatedTo(i int) string {
	for j := i - 1; j >= 0; j-- {
		st := r.op.Steps[j]
		if st.API == domain.APIReplicate && slices.ContainsFunc(st.Targets, func(t domain.ReplicaParam) bool { return t.Region == r.op.Steps[i].Region }) {
			return st.Region
		}
	}
	return ""
}

// awaitInSync reads the primary in from and says whether its replica in
// step i's Region is InSync: if so nothing (go on); InProgress, how long to
// snooze before looking again; Failed or gone, the failed result.
func (r *run) awaitInSync(ctx context.Context, i int, id secretid.ID, from string) (result, time.Duration, error) {
	st := &r.op.Steps[i]
	p, err := r.e.sm.Describe(ctx, from, inRegion(id, from))
	if err != nil {
		res, err := r.stepFailed(i, err)
		return res, 0, err
	}
	rep, ok := p.Replica(st.Region)
	switch {
	case ok && rep.Status == domain.StatusInSync:
		return result{}, 0, nil
	case ok && rep.Status == domain.StatusInProgress:
		st.Message = "waiting for the replica here to be InSync before promoting it"
		r.mutated = true
		return result{}, r.e.wait.delay(r.op.ID, r.readBudget(), time.Now(), r.waitingSince(), r.e.cfg.PollInitial, r.e.cfg.PollMax, r.e.cfg.WaitReadRate), nil
	}
	st.State = domain.StepFailed
	st.Message = fmt.Sprintf("the copy here is not an InSync replica of the primary in %s: not promoted", from)
	if ok {
		st.Message = fmt.Sprintf("the replica here is %s: not promoted: %s", rep.Status, r.e.red.Text(rep.StatusMessage))
	}
	r.skipAfter(i)
	return failed(domain.CodeFailedPrecondition, "%s in %s: %s", st.API, st.Region, st.Message), 0, nil
}

// foundDone marks a step that DescribeSecret shows already done. A step
// still PENDING in a child that never ran before was done by somebody
// else; in a resumed one its call may have gone through in an execution
// that did not live to record it.
func (r *run) foundDone(st *domain.Step, what string) {
	switch {
	case st.State == domain.StepPending && !r.resumed:
		st.Message = what + ": no call sent"
	case st.State == domain.StepPending:
		st.Message = what + " when this step was resumed: no call sent (an interrupted execution's call, or somebody else's, had gone through)"
	}
	st.State, r.mutated = domain.StepSucceeded, true
}

// intend marks a step's call as about to be sent. Before the child's first
// mutating call that is recorded under the row's lock (begin), unless the
// child was cancelled meanwhile. Once a call went through the child cannot
// be cancelled, so a later step costs no transaction: after a crash it is
// not SUCCEEDED in the row, and is re-decided from a DescribeSecret.
func (r *run) intend(ctx context.Context, st *domain.Step) (bool, error) {
	st.State = domain.StepRunning
	r.mu.Lock()
	applied := r.op.Mutation == domain.MutationApplied
	r.mu.Unlock()
	if applied {
		return true, nil
	}
	return r.begin(ctx, true)
}

func (r *run) markRegionsRunning(targets []domain.ReplicaParam) {
	for i := range r.op.Regions {
		if slices.ContainsFunc(targets, func(t domain.ReplicaParam) bool { return t.Region == r.op.Regions[i].Region }) &&
			r.op.Regions[i].State == domain.RegionPending {
			r.op.Regions[i].State = domain.RegionRunning
		}
	}
}

// stepFailed ends the child on a permanent AWS error, naming it on the
// step, or hands a transient one back for a retry.
func (r *run) stepFailed(i int, err error) (result, error) {
	res, err := r.awsResult(err)
	if err != nil {
		return res, err
	}
	st := &r.op.Steps[i]
	st.State, st.RequestID = domain.StepFailed, r.requestID(st.API, st.Region)
	if res.err != nil {
		st.Message = res.err.Message
	}
	r.skipAfter(i)
	for j := range r.op.Regions {
		if r.op.Regions[j].State != domain.RegionSucceeded {
			r.op.Regions[j].State = domain.RegionSkipped
		}
	}
	return res, nil
}

func (r *run) skipAfter(i int) {
	for j := i + 1; j < len(r.op.Steps); j++ {
		r.op.Steps[j].State = domain.StepSkipped
	}
}

// requestID is AWS's request id of the latest call of api in region.
func (r *run) requestID(api, region string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.op.AWSCalls) - 1; i >= 0; i-- {
		if c := r.op.AWSCalls[i]; c.API == api && c.Region == region {
			return c.RequestID
		}
	}
	return ""
}

// Failback errors.
var (
	// ErrNotAFailover: the operation named is not a failover parent.
	ErrNotAFailover = errors.New("the operation is not a failover")
	// ErrFailoverUnfinished: the failover has not ended.
	ErrFailoverUnfinished = errors.New("the failover has not ended")
)

// SkipUnreadable is why a failback leaves out a secret it could not read
// in one of the two Regions (AWS's error is in the logs, not the plan).
const SkipUnreadable = "could not be described in the returned or the current primary's Region"

// PlanFailback plans bringing the secrets a failover moved back to the
// Region it left: for each secret the failover promoted, the old primary
// (DescribeSecret in the returned Region) is compared with the current one,
// and a secret whose old primary changed after the failover is refused
// (SkipDiverged) unless force. The first step replicates the current
// primary over the old Region's copy (ForceOverwriteReplicaSecret) under
// the old primary's KMS key; with FailbackReplicateOver that is all, and
// the current primary stays authoritative; with FailbackMovePrimaryBack
// the primary then moves back (planFailback).
func (e *Engine) PlanFailback(ctx context.Context, principal string, failoverID uuid.UUID, mode FailbackMode, force bool) (domain.DRPlan, error) {
	if mode != FailbackMovePrimaryBack {
		mode = FailbackReplicateOver
	}
	fo, err := e.Get(ctx, failoverID)
	if err != nil {
		return domain.DRPlan{}, err
	}
	if fo.Kind != domain.KindFailover || fo.ParentID != uuid.Nil || fo.DR == nil {
		return domain.DRPlan{}, ErrNotAFailover
	}
	if !fo.State.Terminal() {
		return domain.DRPlan{}, ErrFailoverUnfinished
	}
	back, cur := fo.DR.Plan.Source, fo.DR.Plan.Target
	plan := domain.DRPlan{Source: cur, Target: back, Primary: cur, Force: force, Secrets: []domain.DRSecret{}}
	ctx = awssm.WithCaller(ctx, awssm.Caller{Principal: principal})
	for _, s := range fo.DR.Plan.Secrets {
		child, ok := fo.DR.Children[s.SecretID]
		if s.Skip != "" || !ok || child.State != domain.StateSucceeded {
			continue // never moved: nothing to bring back
		}
		id, err := secretid.Parse(s.SecretID)
		if err != nil {
			return plan, fmt.Errorf("planned secret id: %w", err)
		}
		old, oerr := e.sm.Describe(ctx, back, s.SecretID)
		now, cerr := e.sm.Describe(ctx, cur, inRegion(id, cur))
		if oerr != nil || cerr != nil {
			e.log.WarnContext(ctx, "failback plan: secret unreadable", "secret", e.red.ARN(s.SecretID),
				"error", e.describeErr(errors.Join(oerr, cerr)))
			plan.Secrets = append(plan.Secrets, domain.DRSecret{SecretID: s.SecretID, Name: s.Name, Skip: SkipUnreadable})
			continue
		}
		steps, skip := planFailback(old, now, back, old.KMSKeyID, now.KMSKeyID, mode, force)
		plan.Secrets = append(plan.Secrets, domain.DRSecret{SecretID: s.SecretID, Name: s.Name, Skip: skip, Steps: steps})
	}
	plan.Estimate = eta(plan.WritesByBudget(), e.cfg.WriteRate)
	return plan, nil
}
