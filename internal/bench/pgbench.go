package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/replicad/replicad/internal/pgserver"
)

// pgbenchScript inserts one row per transaction into a table with the
// operations table's columns and indexes (it is a migrated operations
// table): the same width as an accepted Replicate (about 100 bytes of
// params, a one-Region regions array, a fingerprint, a job id) and a
// time-ordered id like replicad's UUIDv7, so the primary key grows at its
// right edge as it does for replicad.
const pgbenchScript = `\set n random(1, 2000000000)
INSERT INTO operations (id, kind, state, secret_key, secret_display, aws_region, params, regions, principal,
    reason_fingerprint, job_id)
VALUES ((lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(random()::text), 1, 19))::uuid,
    'replicate', 'pending', 'bench/pgbench/s' || :n, 'bench/pgbench/s' || :n, 'us-east-1',
    decode(repeat(md5(:n::text), 5) || substr(md5(:n::text), 1, 14), 'hex'),
    '[{"region": "eu-west-1", "state": "pending"}]', 'anonymous', 'fp-' || substr(md5(:n::text), 1, 22), :n);
`

// pgbenchAcceptScript does what an accept promises, in one transaction per
// request: the River job (as River's insert fills it), the operation
// (pgbenchScript's row, carrying the job's id), and the RPC's audit event
// (an unchained row with a 400-byte body, about an accept event's size).
// The event's operation_id is looked up by the operation's seq in the same
// statement: pgbench cannot carry a uuid from one statement to the next.
const pgbenchAcceptScript = `\set n random(1, 2000000000)
BEGIN;
INSERT INTO river_job (args, kind, max_attempts, queue, state, priority)
VALUES (('{"operation_id": "' || gen_random_uuid() || '"}')::jsonb, 'replicad.operation', 25, 'operations', 'available', 1)
RETURNING id AS job_id \gset
INSERT INTO operations (id, kind, state, secret_key, secret_display, aws_region, params, regions, principal,
    reason_fingerprint, job_id)
VALUES ((lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(random()::text), 1, 19))::uuid,
    'replicate', 'pending', 'bench/pgbench/s' || :n, 'bench/pgbench/s' || :n, 'us-east-1',
    decode(repeat(md5(:n::text), 5) || substr(md5(:n::text), 1, 14), 'hex'),
    '[{"region": "eu-west-1", "state": "pending"}]', 'anonymous', 'fp-' || substr(md5(:n::text), 1, 22), :job_id)
RETURNING seq AS op_seq \gset
INSERT INTO audit_events (id, time, kind, principal, method, secret, code, operation_id, transport, client_address, body)
VALUES (gen_random_uuid(), now(), 'rpc', 'anonymous', '/replicad.v1.ReplicationService/Replicate', 'bench/pgbench/s' || :n, 0,
    (SELECT id FROM operations WHERE seq = :op_seq), 'grpc', '127.0.0.1:5000', repeat(md5(:n::text), 12) || '0123456789abcdef');
COMMIT;
`

// pgbenchResult is what one pgbench run measured.
type pgbenchResult struct {
	TPS     float64
	Latency Summary
	Command string
	// CPU is PostgreSQL's and pgbench's over the measured run.
	CPU cpuSample
}

// runPgbench runs pgbench against db with the script for d, after a
// warm-up run, and reads per-transaction latencies from its log.
func (s *Stack) runPgbench(ctx context.Context, db string, clients int, warmup, d time.Duration) (pgbenchResult, error) {
	return s.runPgbenchScript(ctx, db, "insert.sql", pgbenchScript, clients, warmup, d)
}

// runPgbenchScript runs pgbench with script (saved as name) against db.
func (s *Stack) runPgbenchScript(ctx context.Context, db, name, scriptText string, clients int, warmup, d time.Duration) (pgbenchResult, error) {
	bin, err := pgserver.BinDir(ctx, false)
	if err != nil {
		return pgbenchResult{}, err
	}
	dir, err := os.MkdirTemp(s.workDir, "pgbench-")
	if err != nil {
		return pgbenchResult{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	script := filepath.Join(dir, name)
	if err := os.WriteFile(script, []byte(scriptText), 0o644); err != nil {
		return pgbenchResult{}, err
	}
	args := func(secs int, extra ...string) []string {
		return append([]string{"-n", "-f", script, "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs),
			"-h", "127.0.0.1", "-p", strconv.Itoa(s.PG.Port), "-U", "postgres"}, append(extra, db)...)
	}
	if warmup >= time.Second {
		out, err := exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), args(max(1, int(warmup.Round(time.Second).Seconds())))...).CombinedOutput()
		if err != nil {
			return pgbenchResult{}, fmt.Errorf("pgbench warm-up: %w: %s", err, out)
		}
	}
	secs := max(1, int(d.Round(time.Second).Seconds()))
	a := args(secs, "-l", "--log-prefix", filepath.Join(dir, "log"))
	before := s.postgresCPU()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), a...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	// pgbench's connections end as it exits: let the postmaster reap their
	// backends, whose time then shows in its children's.
	time.Sleep(300 * time.Millisecond)
	cpu := cpuSample{"postgres": s.postgresCPU() - before, "pgbench": cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	m := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(out)
	if m == nil {
		return pgbenchResult{}, fmt.Errorf("pgbench: no tps in output: %s", out)
	}
	res := pgbenchResult{CPU: cpu, Command: fmt.Sprintf("pgbench -n -f "+name+" -c %d -j 2 -T %d -l %s", clients, secs, db)}
	res.TPS, _ = strconv.ParseFloat(string(m[1]), 64)
	lat, err := readPgbenchLogs(dir)
	if err != nil {
		return res, err
	}
	res.Latency = lat.Summarize()
	return res, nil
}

// readPgbenchLogs reads pgbench -l files: "client transaction latency_us
// script epoch epoch_us" per line, one file per thread.
func readPgbenchLogs(dir string) (*Latencies, error) {
	files, err := filepath.Glob(filepath.Join(dir, "log.*"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("pgbench wrote no log in %s", dir)
	}
	var lat Latencies
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				continue
			}
			lat.Add(time.Duration(us) * time.Microsecond)
		}
		_ = fh.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return &lat, nil
}
