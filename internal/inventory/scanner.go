// Package inventory keeps replicad's inventory of secrets: a background
// scanner that lists every secret of each (account, Region) with
// ListSecrets, describes the replicated ones (ListSecrets reports no
// replication status), and records one row per secret in PostgreSQL
// (store.UpsertInventory), marking gone what a complete scan no longer
// lists. Processes sharing the database divide the (account, Region)
// targets between them with leases (store.ClaimScan), so no target is
// scanned by two processes at once, and a crashed scanner's target is
// taken over when its lease ends.
//
// The scanner sits beside the engine: it uses the AWS adapter and the
// store, and the API reads its rows through the engine.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

// SecretsManager is what the scanner needs from AWS (package awssm).
type SecretsManager interface {
	ListSecrets(ctx context.Context, account, region, token string, pageSize int) (awssm.ListPage, error)
	Describe(ctx context.Context, region, secretID string) (domain.Secret, error)
}

// Defaults for Config's zero values.
const (
	IntervalDefault = 10 * time.Minute
	LeaseDefault    = time.Minute
	PollDefault     = 5 * time.Second
	WorkersDefault  = 2
	// RedescribeAfterDefault: a replicated secret whose listing shows no
	// change is described again once its replica data is this old, so a
	// replica's status change that touched nothing ListSecrets reports is
	// seen within this time.
	RedescribeAfterDefault = time.Hour
)

// Config configures a Scanner.
type Config struct {
	// Targets are the (account, Region)s to scan.
	Targets []store.ScanTarget
	// Owner names this process in leases (unique among the processes).
	Owner string
	// Interval is how often each target is scanned, from the end of its
	// last complete scan (default IntervalDefault).
	Interval time.Duration
	// Lease is how long a claimed target stays this process's without a
	// renewal; it is renewed after every page (default LeaseDefault).
	Lease time.Duration
	// Poll is how often an idle worker looks for a due target (default
	// PollDefault).
	Poll time.Duration
	// Workers is how many targets this process scans at once (default
	// WorkersDefault).
	Workers int
	// PageSize is ListSecrets' MaxResults (default and at most 100).
	PageSize int
	// RedescribeAfter, see RedescribeAfterDefault.
	RedescribeAfter time.Duration
	// Logger receives the scanner's logs: targets by Region and account
	// position, never account ids or secret names.
	Logger *slog.Logger
}

// Scanner scans the inventory until its context ends.
type Scanner struct {
	db    *pgxpool.Pool
	sm    SecretsManager
	store *store.Store
	cfg   Config
	log   *slog.Logger
	// accountIdx names configured accounts in logs by their position.
	accountIdx map[string]int
	// ensured: the targets are recorded in inventory_scans.
	ensured atomic.Bool
}

// New returns a Scanner.
func New(db *pgxpool.Pool, sm SecretsManager, st *store.Store, cfg Config) (*Scanner, error) {
	if cfg.Owner == "" {
		return nil, errors.New("inventory: Config.Owner is required")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Interval, IntervalDefault)
	def(&cfg.Lease, LeaseDefault)
	def(&cfg.Poll, PollDefault)
	def(&cfg.RedescribeAfter, RedescribeAfterDefault)
	if cfg.Workers <= 0 {
		cfg.Workers = WorkersDefault
	}
	if cfg.PageSize <= 0 || cfg.PageSize > awssm.ListPageSizeMax {
		cfg.PageSize = awssm.ListPageSizeMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	idx := map[string]int{}
	for _, t := range cfg.Targets {
		if _, ok := idx[t.Account]; !ok {
			idx[t.Account] = len(idx)
		}
	}
	return &Scanner{db: db, sm: sm, store: st, cfg: cfg, log: cfg.Logger, accountIdx: idx}, nil
}

// Run scans until ctx ends. Each worker claims a due target, scans it
// completely, and claims the next; with nothing due it waits Config.Poll.
func (s *Scanner) Run(ctx context.Context) error {
	if len(s.cfg.Targets) == 0 {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() { s.work(ctx) })
	}
	wg.Wait()
	return nil
}

func (s *Scanner) work(ctx context.Context) {
	for ctx.Err() == nil {
		scanned, err := s.ScanOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "inventory scan failed", "error", err)
		}
		if !scanned && !sleep(ctx, s.cfg.Poll) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Result is what one scan did.
type Result struct {
	Target store.ScanTarget
	// Listed counts the primaries listed; Described the DescribeSecret
	// calls made; Gone the secrets marked gone.
	Listed, Described, Gone int64
}

// ScanOnce claims one due target and scans it completely. It reports
// false when nothing was due.
func (s *Scanner) ScanOnce(ctx context.Context) (bool, error) {
	_, ok, err := s.scanDue(ctx)
	return ok, err
}

func (s *Scanner) scanDue(ctx context.Context) (Result, bool, error) {
	if !s.ensured.Load() {
		if err := s.store.EnsureScanTargets(ctx, s.db, s.cfg.Targets); err != nil {
			return Result{}, false, err
		}
		s.ensured.Store(true)
	}
	lease, ok, err := s.store.ClaimScan(ctx, s.db, s.cfg.Owner, s.cfg.Targets, s.cfg.Lease, s.cfg.Interval, time.Now())
	if err != nil || !ok {
		return Result{}, false, err
	}
	res, err := s.scan(ctx, lease)
	if err != nil {
		reason := "error"
		var ae *awssm.Error
		if errors.As(err, &ae) {
			reason = ae.API + ": " + ae.Code
		}
		failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ferr := s.store.FailScan(failCtx, s.db, s.cfg.Owner, lease.ScanTarget, reason); ferr != nil {
			s.log.WarnContext(ctx, "inventory: freeing a failed scan's lease failed; it ends on its own", "error", ferr)
		}
		return res, true, fmt.Errorf("scan of account #%d in %s: %s", s.accountIdx[lease.Account], lease.Region, reason)
	}
	s.log.InfoContext(ctx, "inventory scan complete", "account", s.accountIdx[lease.Account], "region", lease.Region,
		"listed", res.Listed, "described", res.Described, "marked_gone", res.Gone)
	return res, true, nil
}

// errLeaseLost: another process took the target over (this one was too
// slow to renew); the scan stops without marking anything gone.
var errLeaseLost = errors.New("scan lease lost")

func (s *Scanner) scan(ctx context.Context, lease store.ScanLease) (Result, error) {
	res := Result{Target: lease.ScanTarget}
	accountID := lease.AccountID
	token := ""
	for {
		sent := time.Now()
		page, err := s.sm.ListSecrets(awssm.WithScan(ctx), lease.Account, lease.Region, token, s.cfg.PageSize)
		if err != nil {
			return res, err
		}
		var primaries []awssm.ListedSecret
		for _, e := range page.Secrets {
			if accountID == "" {
				accountID = domain.AccountOfARN(e.ARN)
			}
			// A replica is listed in its own Region, naming its primary's:
			// the primary's row holds it.
			if e.PrimaryRegion == "" || e.PrimaryRegion == lease.Region {
				primaries = append(primaries, e)
			}
		}
		if err := s.record(ctx, lease.Region, primaries, sent, &res); err != nil {
			return res, err
		}
		held, err := s.store.RenewScan(ctx, s.db, s.cfg.Owner, lease.ScanTarget, s.cfg.Lease)
		if err != nil {
			return res, err
		}
		if !held {
			return res, errLeaseLost
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	gone, held, err := s.store.CompleteScan(ctx, s.db, s.cfg.Owner, lease, accountID, res.Listed)
	if err != nil {
		return res, err
	}
	if !held {
		return res, errLeaseLost
	}
	res.Gone = gone
	return res, nil
}

// record upserts one page's primaries. A replicated one is described for
// its replicas' status, unless its listing shows nothing new since a
// recent enough reading, whose replicas are then kept.
func (s *Scanner) record(ctx context.Context, region string, page []awssm.ListedSecret, sent time.Time, res *Result) error {
	if len(page) == 0 {
		return nil
	}
	arns := make([]string, 0, len(page))
	for _, e := range page {
		arns = append(arns, e.ARN)
	}
	known, err := s.store.InventoryByARN(ctx, s.db, arns)
	if err != nil {
		return err
	}
	rows := make([]domain.InventorySecret, 0, len(page))
	for _, e := range page {
		row := domain.InventorySecret{
			Account: domain.AccountOfARN(e.ARN), Region: region, ARN: e.ARN, Name: e.Name,
			KMSKeyID: e.KMSKeyID, Tags: e.Tags, Deleted: e.Deleted, LastChanged: e.LastChanged,
			ReadAt: sent, LastSeen: sent,
		}
		old, isKnown := known[e.ARN]
		replicated := e.PrimaryRegion == region || len(old.Replicas) > 0
		switch {
		case !replicated:
		case isKnown && s.unchanged(old, e, sent):
			// The stored replicas stay, with the time they were read: a
			// newer reading (an operation's refresh) still wins.
			row.Replicas, row.ReadAt = old.Replicas, old.ReadAt
		default:
			at := time.Now()
			sec, err := s.sm.Describe(awssm.WithScan(ctx), region, e.ARN)
			res.Described++
			var ae *awssm.Error
			if errors.As(err, &ae) && ae.Class == awssm.ClassNotFound {
				// Deleted since the page was listed: not seen, so a later
				// complete scan marks it gone.
				continue
			}
			if err != nil {
				return err
			}
			row = domain.InventoryFromSecret(sec, at)
			row.Region, row.LastSeen = region, at
		}
		rows = append(rows, row)
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		for _, row := range rows {
			if _, err := s.store.UpsertInventory(ctx, tx, row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Listed += int64(len(rows))
	return nil
}

// unchanged: the listing shows the same change time and deletion state as
// the stored reading, whose replicas are all InSync and fresh enough.
// Anything in flight (InProgress) or Failed is described again, so the
// inventory follows AWS's progress.
func (s *Scanner) unchanged(old domain.InventorySecret, e awssm.ListedSecret, now time.Time) bool {
	if !old.LastChanged.Equal(e.LastChanged) || old.Deleted != e.Deleted || now.Sub(old.ReadAt) > s.cfg.RedescribeAfter {
		return false
	}
	for _, r := range old.Replicas {
		if r.Status != domain.StatusInSync {
			return false
		}
	}
	return true
}
