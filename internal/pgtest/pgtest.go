// Package pgtest gives tests real PostgreSQL databases: one server per test
// binary (or the one DATABASE_URL names, as `make test` provides), and a
// fresh, fully migrated database per test, cloned from a template so each
// test costs one CREATE DATABASE rather than a migration run.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/pgserver"
	"github.com/replicad/replicad/migrations"
)

// The server and template are per test binary, shared by its tests: that is
// the point of the package, so this is the one place state is global.
var shared struct {
	mu       sync.Mutex
	server   *pgserver.Server
	adminURL string
	template string
	// txPool is the database Tx's transactions run on, made on first use.
	txPool *pgxpool.Pool
	txDB   string
}

// Main runs the tests of a package that uses pgtest: call it from TestMain.
// It stops the server it started once the tests are done.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.txPool != nil {
		shared.txPool.Close()
		_ = execAdmin(context.Background(), shared.adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{shared.txDB}.Sanitize()+" WITH (FORCE)")
	}
	if shared.template != "" {
		if conn, err := pgx.Connect(context.Background(), shared.adminURL); err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{shared.template}.Sanitize()+" WITH (FORCE)")
			_ = conn.Close(context.Background())
		}
	}
	if shared.server != nil {
		if err := shared.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// AdminURL returns a superuser URL to the test server, starting it if needed.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if err := ensureServer(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return shared.adminURL
}

func ensureServer() error {
	if shared.adminURL != "" {
		return nil
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		shared.adminURL = u
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every test binary starts a server: share initdb's work between
	// them (and between runs) through a cache next to the clusters.
	root := tempRoot()
	srv, err := pgserver.Start(ctx, pgserver.Options{
		TempRoot:  root,
		InitCache: filepath.Join(root, fmt.Sprintf("replicad-pgtest-%d", os.Getuid())),
	})
	if err != nil {
		return err
	}
	shared.server = srv
	shared.adminURL = srv.URL
	return nil
}

// shmMinFree is how much free space /dev/shm needs for the test clusters
// to live there: every test database is a copy of the template (some MB),
// and a package's parallel tests hold several at once. Containers often
// give /dev/shm only 64 MB.
const shmMinFree = 1 << 30

// tempRoot is where the test clusters live: /dev/shm when it is a roomy
// tmpfs, else the temp directory. With fsync off the data never needs a
// disk, and on a busy machine every CREATE DATABASE (a file copy of the
// template) and initdb would otherwise queue behind other processes'
// writeback.
func tempRoot() string {
	const shm = "/dev/shm"
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err != nil || st.Bavail*uint64(st.Bsize) < shmMinFree {
		return os.TempDir()
	}
	if err := syscall.Access(shm, 0o2|0o1); err != nil {
		return os.TempDir()
	}
	return shm
}

// NewDatabase creates a migrated database for this test, dropped at cleanup,
// and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	dbURL := newDatabaseFor(tb)
	admin := AdminURL(tb)
	tb.Cleanup(func() {
		_ = execAdmin(context.Background(), admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{databaseOf(dbURL)}.Sanitize()+" WITH (FORCE)")
	})
	return dbURL
}

// newDatabaseFor clones the template into a new database and returns its
// URL; dropping it is the caller's.
func newDatabaseFor(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	shared.mu.Lock()
	if err := ensureServer(); err != nil {
		shared.mu.Unlock()
		tb.Fatalf("pgtest: %v", err)
	}
	if shared.template == "" {
		name, err := createTemplate(ctx, shared.adminURL)
		if err != nil {
			shared.mu.Unlock()
			tb.Fatalf("pgtest: %v", err)
		}
		shared.template = name
	}
	admin, template := shared.adminURL, shared.template
	// CREATE DATABASE ... TEMPLATE needs the template to have no other
	// sessions, so clones are made one at a time.
	name := "t_" + randomSuffix()
	err := execAdmin(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
	shared.mu.Unlock()
	if err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	return withDatabase(admin, name)
}

// Tx returns a transaction on a migrated database shared by the test
// binary's Tx callers, rolled back at cleanup: what the test writes is seen
// by nobody else and gone afterwards, for the cost of a BEGIN. Tests that
// need commits (several connections, advisory locks across sessions) use
// NewDatabase instead.
func Tx(tb testing.TB) pgx.Tx {
	tb.Helper()
	ctx := context.Background()
	shared.mu.Lock()
	pool := shared.txPool
	shared.mu.Unlock()
	if pool == nil {
		// NewDatabase's cleanup would drop it with the first test; this one
		// lives until Main ends.
		dbURL := newDatabaseFor(tb)
		p, err := pgxpool.New(ctx, dbURL)
		if err != nil {
			tb.Fatalf("pgtest: connect: %v", err)
		}
		shared.mu.Lock()
		if shared.txPool == nil {
			shared.txPool, shared.txDB = p, databaseOf(dbURL)
		} else {
			p.Close()
		}
		pool = shared.txPool
		shared.mu.Unlock()
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatalf("pgtest: begin: %v", err)
	}
	tb.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// NewPool returns a pool on a fresh migrated database, closed at cleanup.
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabase(tb))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// NewEmptyDatabase creates a database without any schema (for migration
// tests), dropped at cleanup, and returns its URL.
func NewEmptyDatabase(tb testing.TB) string {
	tb.Helper()
	admin := AdminURL(tb)
	name := "e_" + randomSuffix()
	if err := execAdmin(context.Background(), admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		_ = execAdmin(context.Background(), admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return withDatabase(admin, name)
}

func createTemplate(ctx context.Context, admin string) (string, error) {
	name := "tpl_" + randomSuffix()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(admin, name))
	if err != nil {
		return "", err
	}
	defer pool.Close()
	if _, err := migrations.Apply(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	return name, nil
}

func execAdmin(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDatabase(rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + db
	return u.String()
}

func databaseOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
