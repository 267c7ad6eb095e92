package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// Stored drift computed by two processes on one database (issue 14): the
// policy is changed several times in a row, through one process and then
// the other, so that each process's drift loop is nudged while the other
// is part way through the inventory, and drift-filtered ListSecrets on
// both compute at once. A database trigger records every computation.
// Per row: no reading is computed twice under the same policies, and never
// under an older version of the policy after a newer one; every
// drift-filtered answer after the last change reflects that change, and no
// row is left stale.
func TestTwoProcessesComputeDriftOnce(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	const n = 6000 // 12 pages of the drift loop
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	ctx := context.Background()
	conn := connect(t, c.dbURL)
	if _, err := conn.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, tags, first_seen, last_seen, read_at)
		SELECT '123456789012', 'us-east-1',
			format('arn:aws:secretsmanager:us-east-1:123456789012:secret:drift2/svc-%s-AbCdEf', lpad(i::text, 5, '0')),
			format('drift2/svc-%s', lpad(i::text, 5, '0')), '[{"region": "us-west-2", "status": "InSync"}]', '{"team": "drift"}', now(), now(), now()
		FROM generate_series(1, $1) i`, n); err != nil {
		t.Fatal(err)
	}
	// The test's own observation, not part of the schema: one row per
	// drift computation stored.
	if _, err := conn.Exec(ctx, `
		CREATE TABLE e2e_drift_log (id bigserial PRIMARY KEY, arn text, read_at timestamptz, policies text, policy text, drifts jsonb);
		CREATE FUNCTION e2e_log_drift() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO e2e_drift_log (arn, read_at, policies, policy, drifts) VALUES (NEW.arn, NEW.drift_read_at, NEW.drift_policies, NEW.drift_policy, NEW.drifts);
			RETURN NEW; END $$;
		CREATE TRIGGER e2e_log_drift AFTER UPDATE ON inventory_secrets FOR EACH ROW
			WHEN (NEW.drift_computed_at IS DISTINCT FROM OLD.drift_computed_at) EXECUTE FUNCTION e2e_log_drift();`); err != nil {
		t.Fatal(err)
	}
	// Only the drift loop and drift-filtered reads write drift: no scanner
	// (its readings would change the rows), no reconciliation.
	flags := []string{"--inventory-interval", "0", "--policy-reconcile-interval", "-1s"}
	procs := []*proc{c.start(t, "replicad-1", flags...), c.start(t, "replicad-2", flags...)}

	// Every version of the policy but the last wants one more Region, a
	// different one each time, so a row's stored drift says which version
	// it was computed under; the last wants only the Region every secret
	// already has: compliant.
	extra := []string{"eu-west-1", "ap-southeast-2", "sa-east-1", "eu-central-1"}
	version := map[string]int{}
	for i, r := range extra {
		version[r] = i + 1
	}
	final := len(extra) + 1
	desired := func(v int) []*replicadv1.DesiredReplica {
		out := []*replicadv1.DesiredReplica{{Region: "us-west-2"}}
		if v < final {
			out = append(out, &replicadv1.DesiredReplica{Region: extra[v-1]})
		}
		return out
	}
	pol := &replicadv1.ReplicationPolicy{
		Name:     "drift-shared",
		Selector: &replicadv1.PolicySelector{NameGlobs: []string{"drift2/**"}, Tags: map[string]string{"team": "drift"}},
		Replicas: desired(1),
		Mode:     replicadv1.PolicyMode_POLICY_MODE_REPORT,
	}
	created, err := replicadv1.NewPolicyServiceClient(procs[0].conn).CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	etag := created.GetPolicy().GetEtag()
	for v := 2; v <= final; v++ {
		// The previous version's computation is under way in the process
		// it nudged before the other process is nudged.
		waitLogged(t, conn, extra[v-2])
		pol.Replicas, pol.Etag = desired(v), etag
		up, err := replicadv1.NewPolicyServiceClient(procs[(v-1)%2].conn).UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		etag = up.GetPolicy().GetEtag()
	}

	// At once on both processes, one over gRPC and one over REST: no secret
	// is drifted under the last version; then all n are compliant.
	var wg sync.WaitGroup
	answers := make([]int, 2)
	wg.Go(func() { answers[0] = listGRPC(t, procs[0], replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED) })
	wg.Go(func() { answers[1] = listREST(t, procs[1], "DRIFT_FILTER_DRIFTED") })
	wg.Wait()
	for i, got := range answers {
		if got != 0 {
			t.Errorf("%s: %d secrets drifted after the last policy change, which they all comply with: answered from an older version's drift", procs[i].name, got)
		}
	}
	if got := listGRPC(t, procs[1], replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT); got != n {
		t.Errorf("%s: %d compliant secrets, want %d", procs[1].name, got, n)
	}
	if got := listREST(t, procs[0], "DRIFT_FILTER_COMPLIANT"); got != n {
		t.Errorf("%s: %d compliant secrets over REST, want %d", procs[0].name, got, n)
	}

	// No row stale once the processes are idle: every reading's drift is
	// that of the last version.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var stale int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM inventory_secrets WHERE drift_read_at IS DISTINCT FROM read_at
			OR drifts <> '[]' OR drift_policy IS DISTINCT FROM 'drift-shared'`).Scan(&stale); err != nil {
			t.Fatal(err)
		}
		if stale == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows stale 30s after the last policy change", stale)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The log, row by row: versions strictly increase.
	rows, err := conn.Query(ctx, `SELECT arn, policy IS NOT NULL, drifts FROM e2e_drift_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var computations, twice, backwards int
	for rows.Next() {
		var arn string
		var selected bool
		var drifts []byte
		if err := rows.Scan(&arn, &selected, &drifts); err != nil {
			t.Fatal(err)
		}
		computations++
		v := 0 // before the policy existed
		if selected {
			v = driftVersion(t, drifts, version, final)
		}
		prev, ok := seen[arn]
		switch {
		case ok && v == prev:
			twice++
		case ok && v < prev:
			backwards++
		}
		seen[arn] = max(prev, v)
	}
	rows.Close()
	t.Logf("%d drift computations for %d rows over %d versions of the policy", computations, n, final)
	if twice > 0 {
		t.Errorf("%d computations repeated one already stored (same reading, same policies)", twice)
	}
	if backwards > 0 {
		t.Errorf("%d computations stored an older version of the policy's drift over a newer one's", backwards)
	}
	if len(seen) != n {
		t.Errorf("drift computed for %d rows, want %d", len(seen), n)
	}
}

// waitLogged waits until some row's drift was stored finding region
// missing.
func waitLogged(t *testing.T, conn *pgx.Conn, region string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found bool
		if err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT FROM e2e_drift_log
			WHERE drifts @> jsonb_build_array(jsonb_build_object('region', $1::text)))`, region).Scan(&found); err != nil {
			t.Fatal(err)
		}
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no drift missing %s computed within 30s", region)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// driftVersion says which version of the policy drifts were computed
// under: the Region they find missing, none for the last.
func driftVersion(t *testing.T, drifts []byte, version map[string]int, final int) int {
	t.Helper()
	var ds []struct{ Kind, Region string }
	if err := json.Unmarshal(drifts, &ds); err != nil {
		t.Fatalf("drifts %s: %v", drifts, err)
	}
	if len(ds) == 0 {
		return final
	}
	if len(ds) != 1 || version[ds[0].Region] == 0 {
		t.Fatalf("drifts %s: want one missing Region of a version of the policy", drifts)
	}
	return version[ds[0].Region]
}

// listGRPC counts the secrets ListSecrets returns with the drift filter,
// over gRPC.
func listGRPC(t *testing.T, p *proc, f replicadv1.DriftFilter) int {
	inv := replicadv1.NewInventoryServiceClient(p.conn)
	total := 0
	token := ""
	for {
		resp, err := inv.ListSecrets(context.Background(), &replicadv1.ListSecretsRequest{Drift: f, PageSize: 1000, PageToken: token})
		if err != nil {
			t.Errorf("%s: ListSecrets: %v", p.name, err)
			return total
		}
		total += len(resp.GetSecrets())
		if token = resp.GetNextPageToken(); token == "" {
			return total
		}
	}
}

// listREST is listGRPC through the REST gateway.
func listREST(t *testing.T, p *proc, f string) int {
	total := 0
	token := ""
	for {
		resp, err := http.Get(fmt.Sprintf("http://%s/v1/secrets?drift=%s&pageSize=1000&pageToken=%s", p.httpAddr, f, url.QueryEscape(token)))
		if err != nil {
			t.Errorf("%s: GET /v1/secrets: %v", p.name, err)
			return total
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s: GET /v1/secrets: %d %s %v", p.name, resp.StatusCode, body, err)
			return total
		}
		var page replicadv1.ListSecretsResponse
		if err := protojson.Unmarshal(body, &page); err != nil {
			t.Errorf("%s: decode /v1/secrets: %v", p.name, err)
			return total
		}
		total += len(page.GetSecrets())
		if token = page.GetNextPageToken(); token == "" {
			return total
		}
	}
}
