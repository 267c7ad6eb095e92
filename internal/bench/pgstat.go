package bench

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// PgStatSettings load pg_stat_statements, for a diagnosis run
// (cmd/bench -pg-stat-statements): where PostgreSQL's time goes, per
// statement. They add a little overhead to every statement, so the
// figures of such a run are not the reference ones.
func PgStatSettings() map[string]string {
	return map[string]string{"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all"}
}

// Statement is one pg_stat_statements entry over a case.
type Statement struct {
	Database string  `json:"database"`
	Calls    int64   `json:"calls"`
	TotalMs  float64 `json:"total_exec_ms"`
	Rows     int64   `json:"rows"`
	Query    string  `json:"query"`
}

// resetStatements clears pg_stat_statements; false when it is not loaded.
func (s *Stack) resetStatements(ctx context.Context) bool {
	conn, err := pgx.Connect(ctx, s.PG.URL)
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return false
	}
	_, err = conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
	return err == nil
}

// topStatements are the statements that took the most execution time since
// the last reset, across the cluster.
func (s *Stack) topStatements(ctx context.Context, n int) ([]Statement, error) {
	conn, err := pgx.Connect(ctx, s.PG.URL)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, `SELECT d.datname, s.calls, s.total_exec_time, s.rows,
			left(regexp_replace(s.query, '\s+', ' ', 'g'), 140)
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		ORDER BY s.total_exec_time DESC LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Statement, error) {
		var st Statement
		err := row.Scan(&st.Database, &st.Calls, &st.TotalMs, &st.Rows, &st.Query)
		return st, err
	})
}
