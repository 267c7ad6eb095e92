// Package migrations owns the database schema: replicad's own SQL migrations
// (embedded from sql/) and River's job-table migrations, applied together at
// start-up under one PostgreSQL advisory lock so that several replicad
// instances can start at the same time against one database.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed sql/*.sql
var files embed.FS

// VersionTable records which of replicad's migrations have been applied.
const VersionTable = "replicad_schema_migrations"

// lockKey is the pg_advisory_lock key serialising migrations across
// instances: the first 8 bytes of sha256("replicad migrations").
const lockKey int64 = 0x5d1c2a7f3b9e4410

// Result says what Apply did.
type Result struct {
	// Applied names the replicad migrations applied by this call.
	Applied []string
	// RiverApplied lists the River migration versions applied by this call.
	RiverApplied []int
}

// Apply brings the schema up to date. It blocks while another instance holds
// the migration lock, then finds nothing left to do.
func Apply(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (Result, error) {
	var res Result
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("acquire connection for migration lock: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return res, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// A session lock outlives errors; release it explicitly so the pooled
		// connection does not keep it.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)
	}()

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return res, fmt.Errorf("river migrator: %w", err)
	}
	riverRes, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return res, fmt.Errorf("river migrations: %w", err)
	}
	for _, v := range riverRes.Versions {
		res.RiverApplied = append(res.RiverApplied, v.Version)
	}

	provider, closeDB, err := newProvider(pool)
	if err != nil {
		return res, err
	}
	defer closeDB()
	applied, err := provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("replicad migrations: %w", err)
	}
	for _, a := range applied {
		res.Applied = append(res.Applied, a.Source.Path)
	}
	return res, nil
}

// ErrPending reports a schema that is behind the binary.
var ErrPending = errors.New("database schema has pending migrations")

// Check returns nil when every migration this binary knows has been applied,
// ErrPending when some are missing, or the error that stopped it from telling.
// Readiness probes call it.
func Check(ctx context.Context, pool *pgxpool.Pool) error {
	provider, closeDB, err := newProvider(pool)
	if err != nil {
		return err
	}
	defer closeDB()
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read migration state: %w", err)
	}
	if pending {
		return ErrPending
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	existing, err := migrator.ExistingVersions(ctx)
	if err != nil {
		return fmt.Errorf("read river migration state: %w", err)
	}
	if len(existing) < len(migrator.AllVersions()) {
		return fmt.Errorf("river: %w", ErrPending)
	}
	return nil
}

func newProvider(pool *pgxpool.Pool) (*goose.Provider, func(), error) {
	sqlFiles, err := fs.Sub(files, "sql")
	if err != nil {
		return nil, nil, fmt.Errorf("embedded migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	store, err := database.NewStore(database.DialectPostgres, VersionTable)
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("migration store: %w", err)
	}
	provider, err := goose.NewProvider("", db, sqlFiles, goose.WithStore(store), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("migration provider: %w", err)
	}
	return provider, func() { _ = db.Close() }, nil
}
