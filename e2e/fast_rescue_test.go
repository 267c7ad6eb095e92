package e2e

import (
	"context"
	"testing"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// Issue 15 item 6: two processes with the default heartbeat (5 s) and the
// default --rescue-after (5 min); kill -9 the one holding running
// operations. The survivor picks each of them up within 15 s of the dead
// process's last heartbeat, long before --rescue-after, and no
// ReplicateSecretToRegions is sent twice.
func TestKilledProcessWorkRescuedWithinSeconds(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	// Replication outlasts the whole test's rescue window, and executions
	// poll inline (--inline-poll) so their jobs stay running in the killed
	// process rather than snoozing back to the queue.
	sm := startWatchedStandin(t, standin.Options{ReplicationDelay: 25 * time.Second})
	c := newCluster(t, sm.URL)
	flags := []string{"--workers", "8", "--inline-poll", "2m", "--job-timeout", "3m"}
	p1 := c.start(t, "replicad-1", flags...)
	p2 := c.start(t, "replicad-2", flags...)
	secrets := sm.seed(t, 8, "rescue")
	var ops []submitted
	for _, s := range secrets {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := p1.client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: s, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, submitted{id: resp.GetOperation().GetId(), secret: s, replicate: true, regions: []string{"eu-west-1"}})
	}

	ctx := context.Background()
	conn := connect(t, c.dbURL)
	// Wait until every operation has made its one write and is polling in
	// one process or the other: then the processes' instance ids are the
	// queue client ids holding the jobs.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var polling int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'running'`).Scan(&polling); err != nil {
			t.Fatal(err)
		}
		if polling == len(ops) && sm.Stats().Region("us-east-1").APIs["ReplicateSecretToRegions"].Requests == int64(len(ops)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs running after 30s", polling, len(ops))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The victim: whichever process holds more of them (p1 if tied).
	var victim string
	var held []int64
	rows, err := conn.Query(ctx, `SELECT id, attempted_by[array_length(attempted_by, 1)] FROM river_job WHERE state = 'running'`)
	if err != nil {
		t.Fatal(err)
	}
	byHolder := map[string][]int64{}
	for rows.Next() {
		var id int64
		var holder string
		if err := rows.Scan(&id, &holder); err != nil {
			t.Fatal(err)
		}
		byHolder[holder] = append(byHolder[holder], id)
	}
	rows.Close()
	for h, ids := range byHolder {
		if len(ids) > len(held) {
			victim, held = h, ids
		}
	}
	if len(byHolder) > 2 || len(held) == 0 {
		t.Fatalf("jobs held by %v: want one or two processes", byHolder)
	}
	victimProc, survivor := p1, p2
	if !processIs(t, p1, victim) {
		victimProc, survivor = p2, p1
		if !processIs(t, p2, victim) {
			t.Fatalf("no process has instance id %s", victim)
		}
	}

	killedAt := time.Now()
	victimProc.kill9(t)
	var lastBeat time.Time
	if err := conn.QueryRow(ctx, `SELECT heartbeat FROM instances WHERE id = $1`, victim).Scan(&lastBeat); err != nil {
		t.Fatalf("the killed process's heartbeat: %v", err)
	}
	if lastBeat.After(killedAt) {
		t.Fatalf("last heartbeat %s after the kill at %s", lastBeat, killedAt)
	}

	// Every held job is picked up by the survivor; the pickup time is the
	// database's attempted_at, on the same clock as the heartbeat.
	var pickedUp time.Time
	deadline = time.Now().Add(40 * time.Second)
	for {
		var newest *time.Time
		var moved int
		if err := conn.QueryRow(ctx, `SELECT count(*), max(attempted_at) FROM river_job
			WHERE id = ANY($1) AND attempted_by[array_length(attempted_by, 1)] <> $2`, held, victim).Scan(&moved, &newest); err != nil {
			t.Fatal(err)
		}
		if moved == len(held) {
			pickedUp = *newest
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs of the killed process picked up %s after the kill (--rescue-after is 5m)", moved, len(held), time.Since(killedAt).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	sinceBeat := pickedUp.Sub(lastBeat)
	t.Logf("%d jobs rescued: last picked up %s after the killed process's last heartbeat, %s after the kill",
		len(held), sinceBeat.Round(time.Millisecond), pickedUp.Sub(killedAt).Round(time.Millisecond))
	if sinceBeat > 15*time.Second {
		t.Errorf("picked up %s after the last heartbeat, want at most 15s", sinceBeat.Round(time.Millisecond))
	}

	waitAll(t, survivor.client, ops, 60*time.Second)
	verifyFinalState(t, c.dbURL, sm, ops)
	if got := sm.Stats().Region("us-east-1").APIs["ReplicateSecretToRegions"].Requests; got != int64(len(ops)) {
		t.Errorf("ReplicateSecretToRegions sent %d times for %d Replicates: a write was repeated", got, len(ops))
	}
	if lines := survivor.logs.lines("rescued the jobs of processes whose heartbeat stopped"); len(lines) == 0 {
		t.Error("the survivor did not log the rescue")
	}
}

// processIs reports whether p logged instance id as its own queue client:
// a process's jobs carry its instance id, which it logs at start-up.
func processIs(t *testing.T, p *proc, id string) bool {
	t.Helper()
	return len(p.logs.lines(id)) > 0
}
