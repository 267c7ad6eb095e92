package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/drift"
	"github.com/replicad/replicad/internal/kmskey"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/store"
)

// Stored drift: every inventory row carries its drift against the policy
// that selects it (store.SetInventoryDrift), so that ListSecrets filters by
// drift in the database. A row's drift is stale when its reading changed
// since (a scan page, a refresh after an operation) or the policies did
// (their digest of names and etags); stale rows are recomputed by a loop,
// right after replicad's own changes (policy writes, inventory refreshes),
// and before a drift-filtered ListSecrets answers, so that the filter never
// answers from an older reading than the row it returns. Computing is
// idempotent: several processes may do it at once, and a computation from
// an older reading never overwrites a newer reading's drift.

// DriftIntervalDefault is how often stale drift is recomputed in the
// background.
const DriftIntervalDefault = 5 * time.Second

// kmsCacheTTL is how long an alias resolution is reused: aliases are
// rarely repointed, and a repointed alias shows as drift within this long.
const kmsCacheTTL = 5 * time.Minute

// driftPage is how many stale rows one query reads.
const driftPage = 500

// KeyResolver resolves a KMS key reference in a Region of an account
// (awssm.Client.DescribeKey): an alias is compared by the key it points
// to there, not by its name.
type KeyResolver interface {
	DescribeKey(ctx context.Context, region, ref string) (domain.KMSKey, error)
}

// accountLister lists the configured accounts (awssm.Client).
type accountLister interface{ AccountIDs() []string }

// KMSKeyError refuses a policy whose desired KMS key alias does not exist
// in its Region (in one of the accounts the policy selects from).
type KMSKeyError struct {
	Violations []KMSKeyViolation
}

// KMSKeyViolation is one desired replica whose alias is missing.
type KMSKeyViolation struct {
	// Replica is the index of the desired replica in the policy.
	Replica int
	Region  string
}

func (e *KMSKeyError) Error() string {
	regions := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		regions = append(regions, v.Region)
	}
	return "KMS key alias not found in " + strings.Join(regions, ", ")
}

type kmsRef struct{ account, region, ref string }

type kmsEntry struct {
	arn   string // "" when the reference names no key there
	err   error  // KMS could not answer (remembered for kmsErrorTTL)
	until time.Time
}

// kmsErrorTTL is how long a failure to resolve is remembered, so that a
// KMS outage or a missing kms:DescribeKey permission costs one call per
// alias, Region and account per period rather than one per secret.
const kmsErrorTTL = 30 * time.Second

// keyCache resolves KMS aliases through KMS, remembering the answers (and
// the aliases that name nothing) for kmsCacheTTL.
type keyCache struct {
	r   KeyResolver
	log *slog.Logger
	red *redact.Redactor
	mu  sync.Mutex
	m   map[kmsRef]kmsEntry
}

func newKeyCache(r KeyResolver, log *slog.Logger, red *redact.Redactor) *keyCache {
	return &keyCache{r: r, log: log, red: red, m: map[kmsRef]kmsEntry{}}
}

// isAlias reports whether ref is a customer alias (bare or as an ARN),
// which only KMS can relate to a key. The AWS managed key's names compare
// as they are.
func isAlias(ref string) bool {
	if ref == "" || ref == kmskey.Managed || ref == "aws/secretsmanager" {
		return false
	}
	if strings.HasPrefix(ref, "alias/") {
		return true
	}
	return strings.HasPrefix(ref, "arn:") && strings.Contains(ref, ":alias/")
}

// resolve returns the key ARN alias names in (account, region), "" when it
// names none; fresh skips the cache (a policy being written must see an
// alias created a moment ago).
func (c *keyCache) resolve(ctx context.Context, account, region, alias string, fresh bool) (string, error) {
	k := kmsRef{account, region, alias}
	now := time.Now()
	if !fresh {
		c.mu.Lock()
		e, ok := c.m[k]
		c.mu.Unlock()
		if ok && now.Before(e.until) {
			return e.arn, e.err
		}
	}
	key, err := c.r.DescribeKey(awssm.WithAccount(ctx, account), region, alias)
	var ae *awssm.Error
	switch {
	case errors.As(err, &ae) && ae.Class == awssm.ClassNotFound:
		key = domain.KMSKey{}
	case err != nil:
		if ctx.Err() == nil {
			c.mu.Lock()
			c.m[k] = kmsEntry{err: err, until: now.Add(kmsErrorTTL)}
			c.mu.Unlock()
			c.log.WarnContext(ctx, "resolve a KMS key alias", "region", region, "error", c.red.Text(err.Error()))
		}
		return "", err
	}
	c.mu.Lock()
	c.m[k] = kmsEntry{arn: key.ARN, until: now.Add(kmsCacheTTL)}
	c.mu.Unlock()
	return key.ARN, nil
}

// keyComparer returns drift.Desired's SameKey for secrets of account: both
// references resolved in the replica's Region, aliases to their key's ARN,
// then compared as KMS keys. When KMS cannot answer, the comparer says
// "same" (no claim of drift, hence no action, on a guess) and sets
// *unsure.
func (e *Engine) keyComparer(ctx context.Context, account string, unsure *bool) func(region, want, got string) bool {
	if e.keys == nil {
		return nil
	}
	canon := func(region, ref string) (string, bool) {
		if !isAlias(ref) {
			return ref, true
		}
		arn, err := e.keys.resolve(ctx, account, region, ref, false)
		if err != nil {
			return "", false
		}
		if arn == "" {
			// Names no key there: compared as written.
			return ref, true
		}
		return arn, true
	}
	return func(region, want, got string) bool {
		w, ok1 := canon(region, want)
		g, ok2 := canon(region, got)
		if !ok1 || !ok2 {
			*unsure = true
			return true
		}
		return w == g || kmskey.Same(w, g, region, account)
	}
}

// desiredFor is drift.DesiredOf(p) comparing keys through KMS for a
// secret of account.
func (e *Engine) desiredFor(ctx context.Context, p domain.Policy, account string, unsure *bool) drift.Desired {
	d := drift.DesiredOf(p)
	d.SameKey = e.keyComparer(ctx, account, unsure)
	return d
}

// policyAccounts are the accounts a policy's aliases must exist in: those
// its selector names, else every configured account, else the ambient
// credentials' ("").
func (e *Engine) policyAccounts(p domain.Policy) []string {
	if len(p.Selector.Accounts) > 0 {
		return p.Selector.Accounts
	}
	if al, ok := e.sm.(accountLister); ok {
		if ids := al.AccountIDs(); len(ids) > 0 {
			return ids
		}
	}
	return []string{""}
}

// checkPolicyKeys refuses p when a desired alias does not exist in its
// Region, in any account p selects from.
func (e *Engine) checkPolicyKeys(ctx context.Context, p domain.Policy) error {
	if e.keys == nil {
		return nil
	}
	var ke KMSKeyError
	for i, r := range p.Replicas {
		if !isAlias(r.KMSKeyID) {
			continue
		}
		for _, account := range e.policyAccounts(p) {
			arn, err := e.keys.resolve(ctx, account, r.Region, r.KMSKeyID, true)
			if err != nil {
				var ae *awssm.Error
				if errors.As(err, &ae) {
					return &domain.AWSError{API: ae.API, Region: ae.Region, AWSCode: ae.Code, Message: e.red.Text(ae.Message),
						RequestID: ae.RequestID, Code: ae.Class.Code()}
				}
				return fmt.Errorf("resolve KMS key alias in %s: %w", r.Region, err)
			}
			if arn == "" {
				ke.Violations = append(ke.Violations, KMSKeyViolation{Replica: i, Region: r.Region})
				break
			}
		}
	}
	if len(ke.Violations) > 0 {
		return &ke
	}
	return nil
}

// policiesDigest identifies a set of policies by their names and etags:
// any create, update or delete changes it.
func policiesDigest(ps []domain.Policy) string {
	h := sha256.New()
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, p.Name+"\x00"+p.ETag)
	}
	slices.Sort(names)
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

type policySet struct {
	digest   string
	policies []domain.Policy // by name
	sels     []drift.Selector
}

func (e *Engine) loadPolicySet(ctx context.Context, db store.DB) (policySet, error) {
	ps, err := e.allPolicies(ctx, db)
	if err != nil {
		return policySet{}, err
	}
	slices.SortFunc(ps, func(a, b domain.Policy) int { return strings.Compare(a.Name, b.Name) })
	set := policySet{digest: policiesDigest(ps), policies: ps}
	for _, p := range ps {
		sel, err := drift.CompileSelector(p.Selector)
		if err != nil {
			return policySet{}, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		set.sels = append(set.sels, sel)
	}
	return set, nil
}

// driftOf computes a secret's drift under the policies: the first policy
// (by name) that selects it is its policy; another selecting it with
// different desires puts it in conflict. ok is false when KMS could not
// answer for it (the row stays stale and is tried again).
func (e *Engine) driftOf(ctx context.Context, set policySet, sec domain.InventorySecret, now time.Time) (domain.SecretDrift, bool) {
	out := domain.SecretDrift{ComputedAt: now}
	if sec.Gone {
		return out, true
	}
	first := -1
	for i, sel := range set.sels {
		if !sel.Matches(sec) {
			continue
		}
		if first < 0 {
			first = i
			out.Policy = set.policies[i].Name
			continue
		}
		if !drift.SameDesires(set.policies[first], set.policies[i]) {
			out.Conflicts = append(out.Conflicts, set.policies[i].Name)
		}
	}
	if first < 0 || len(out.Conflicts) > 0 {
		return out, true
	}
	unsure := false
	for _, d := range drift.Classify(e.desiredFor(ctx, set.policies[first], sec.Account, &unsure), sec) {
		out.Findings = append(out.Findings, domain.DriftFinding{Kind: string(d.Kind), Region: d.Region, Message: d.Message})
	}
	return out, !unsure
}

// UpdateDrift recomputes the stored drift of every stale inventory row and
// returns how many rows it updated.
func (e *Engine) UpdateDrift(ctx context.Context) (int, error) {
	total := 0
	var cursor *store.InventoryCursor
	var set policySet
	for {
		// One page per transaction under the drift lock: whoever else is
		// computing (another process's loop, a request) takes the next
		// page, and finds the pages done no longer stale.
		var next *store.InventoryCursor
		err := pgx.BeginFunc(ctx, e.api, func(tx pgx.Tx) error {
			if err := store.LockDrift(ctx, tx); err != nil {
				return err
			}
			// The policies are read page by page, under the lock. Read once
			// per pass, a pass that began before a policy change would
			// find every row another process had since computed under
			// the new policies stale (not its digest) and store the old
			// policies' drift over it: rows computed twice, a drift
			// filter answering from the old policy, rows left stale
			// (e2e TestTwoProcessesComputeDriftOnce). Under the lock, no
			// page is ever computed under policies older than a page
			// already stored.
			cur, err := e.loadPolicySet(ctx, tx)
			if err != nil {
				return err
			}
			if cursor != nil && cur.digest != set.digest {
				// The pages before the cursor were computed under the
				// policies before the change: start over.
				cursor = nil
			}
			set = cur
			rows, nx, err := e.store.StaleDrift(ctx, tx, set.digest, cursor, driftPage)
			if err != nil {
				return err
			}
			next = nx
			now := time.Now()
			updates := make([]store.DriftUpdate, 0, len(rows))
			for _, sec := range rows {
				d, ok := e.driftOf(ctx, set, sec, now)
				if ok {
					updates = append(updates, store.DriftUpdate{ARN: sec.ARN, ReadAt: sec.ReadAt, Drift: d})
				}
			}
			n, err := e.store.SetInventoryDrift(ctx, tx, set.digest, now, updates)
			total += int(n)
			return err
		})
		if err != nil {
			return total, err
		}
		if next == nil {
			return total, nil
		}
		cursor = next
	}
}

// updateDriftOf recomputes one row's drift at once (after replicad's own
// change to it, or for GetSecret), returning the row with it. A drift
// equal to the stored one is not written again (a read stays a read; the
// loop brings the row's bookkeeping up to date).
func (e *Engine) updateDriftOf(ctx context.Context, arn string) (domain.InventorySecret, error) {
	sec, err := e.store.GetInventory(ctx, e.api, arn)
	if err != nil {
		return domain.InventorySecret{}, err
	}
	set, err := e.loadPolicySet(ctx, e.api)
	if err != nil {
		return domain.InventorySecret{}, err
	}
	now := time.Now()
	d, ok := e.driftOf(ctx, set, sec, now)
	if !ok || (!sec.Drift.ComputedAt.IsZero() && sameDrift(d, sec.Drift)) {
		return sec, nil
	}
	if _, err := e.store.SetInventoryDrift(ctx, e.api, set.digest, now, []store.DriftUpdate{{ARN: sec.ARN, ReadAt: sec.ReadAt, Drift: d}}); err != nil {
		return domain.InventorySecret{}, err
	}
	sec.Drift = d
	return sec, nil
}

// driftLoop recomputes stale drift every DriftInterval, and at once when
// a policy write nudges it.
func (e *Engine) driftLoop(ctx context.Context) {
	e.repeat(ctx, e.cfg.DriftInterval, e.driftNudge, "drift computation", func(ctx context.Context) error {
		_, err := e.UpdateDrift(ctx)
		return err
	})
}

// repeat runs round every interval (never when it is negative) and at once
// when nudged, until ctx ends; a failed round is logged, redacted, and the
// next one tries again.
func (e *Engine) repeat(ctx context.Context, interval time.Duration, nudged <-chan struct{}, what string, round func(context.Context) error) {
	if interval < 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-nudged:
		}
		if err := round(ctx); err != nil && ctx.Err() == nil {
			e.log.WarnContext(ctx, what, "error", e.red.Text(err.Error()))
		}
	}
}

// nudge wakes a loop waiting on ch; a nudge already pending is enough.
func nudge(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// driftAfterPolicyChange has the loop recompute every row's drift after a
// policy write committed, without making the write wait for it (over a
// large inventory it takes seconds). Until the loop is done, drift-filtered
// reads and GetSecret compute what they need themselves.
func (e *Engine) driftAfterPolicyChange() { nudge(e.driftNudge) }

// sameDrift reports whether two drifts say the same, whenever computed.
func sameDrift(a, b domain.SecretDrift) bool {
	return a.Policy == b.Policy && slices.Equal(a.Conflicts, b.Conflicts) && slices.Equal(a.Findings, b.Findings)
}
