package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// fleet is three replicad processes on one database, as deploy/ runs them,
// with the addresses clients may currently use.
type fleet struct {
	c     *cluster
	flags []string

	mu    sync.Mutex
	procs []*proc
	down  map[int]bool
}

// live returns a process clients can use, preferring the i-th.
func (f *fleet) live(i int) *proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.procs {
		j := (i + k) % len(f.procs)
		if !f.down[j] {
			return f.procs[j]
		}
	}
	panic("no live process")
}

func (f *fleet) setDown(i int, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[i] = down
}

func (f *fleet) replace(i int, p *proc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[i] = p
	f.down[i] = false
}

// client is one way of sending requests: replictl or curl. send returns the
// operation id, or an error when the process did not answer (the caller
// retries the same request id elsewhere).
type client func(t *testing.T, p *proc, sub submitted, requestID string) (string, error)

// viaReplictl runs the replictl binary, as an engineer or a script would.
func viaReplictl(t *testing.T, p *proc, sub submitted, requestID string) (string, error) {
	args := []string{"remove"}
	if sub.replicate {
		args[0] = "replicate"
	}
	args = append(args, sub.secret, "--server", p.grpcAddr, "--request-id", requestID, "-o", "json", "--timeout", "10s")
	for _, r := range sub.regions {
		args = append(args, "--region", r)
	}
	cmd := exec.Command(filepath.Join(binDir, "replictl"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if code := cmd.ProcessState.ExitCode(); code != 3 {
			t.Errorf("replictl %v: exit %d: %s", args, code, stderr.String())
		}
		return "", fmt.Errorf("replictl: %w: %s", err, stderr.String())
	}
	var op struct{ ID string }
	if err := json.Unmarshal(out, &op); err != nil || op.ID == "" {
		t.Errorf("replictl printed %q: %v", out, err)
		return "", fmt.Errorf("no operation in replictl output")
	}
	return op.ID, nil
}

// viaCurl posts to the REST gateway with curl, as a portal would.
func viaCurl(t *testing.T, p *proc, sub submitted, requestID string) (string, error) {
	path, body := ":removeRegions", map[string]any{"regions": sub.regions, "request_id": requestID}
	if sub.replicate {
		var rr []map[string]string
		for _, r := range sub.regions {
			rr = append(rr, map[string]string{"region": r})
		}
		path, body = ":replicate", map[string]any{"regions": rr, "request_id": requestID}
	}
	b, _ := json.Marshal(body)
	u := "http://" + p.httpAddr + "/v1/secrets/" + url.PathEscape(sub.secret) + path
	cmd := exec.Command("curl", "-sS", "--max-time", "10", "-X", "POST", "-H", "Content-Type: application/json",
		"-w", "\n%{http_code}", "--data-binary", string(b), u)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("curl: %w", err)
	}
	text := strings.TrimSpace(string(out))
	i := strings.LastIndexByte(text, '\n')
	if i < 0 || text[i+1:] != "200" {
		t.Errorf("curl %s: %s", u, text)
		return "", fmt.Errorf("curl: HTTP answer %q", text)
	}
	var resp struct {
		Operation struct{ ID string } `json:"operation"`
	}
	if err := json.Unmarshal([]byte(text[:i]), &resp); err != nil || resp.Operation.ID == "" {
		t.Errorf("curl body %q: %v", text[:i], err)
		return "", fmt.Errorf("no operation in the REST answer")
	}
	return resp.Operation.ID, nil
}

// The deployment story end to end: three processes on one database and the
// stand-in, a mixed load through replictl and curl, one process killed with
// kill -9 and another restarted with SIGTERM during the load. Every
// operation ends, none runs twice at once, AWS's side matches a serial run
// in acceptance order, and /metrics agrees with the operations table.
func TestFleetUnderLoad(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{ReplicationDelay: 150 * time.Millisecond, Faults: standin.Faults{Latency: 10 * time.Millisecond}})
	c := newCluster(t, sm.URL)
	flags := []string{"--workers", "4", "--job-timeout", "4s", "--rescue-after", "6s", "--drain-timeout", "2s"}
	f := &fleet{c: c, flags: flags, down: map[int]bool{}}
	for i := range 3 {
		f.procs = append(f.procs, c.start(t, fmt.Sprintf("replicad-%d", i), flags...))
	}
	secrets := sm.seed(t, 12, "fleet")

	// Two loaders per client kind, each owning a slice of the secrets so
	// that a secret's requests are sent one after another.
	const perSecret = 6
	clients := []client{viaReplictl, viaCurl}
	var (
		mu   sync.Mutex
		ops  []submitted
		sent int
		wg   sync.WaitGroup
	)
	progress := make(chan int, 1000)
	for l := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(l), 99))
			send := clients[l%2]
			for range perSecret {
				for s := l; s < len(secrets); s += 4 {
					regions := append([]string(nil), regionPool...)
					rng.Shuffle(len(regions), func(i, j int) { regions[i], regions[j] = regions[j], regions[i] })
					sub := submitted{secret: secrets[s], replicate: rng.IntN(3) > 0, regions: regions[:1+rng.IntN(2)]}
					requestID := uuid.NewString()
					// A request whose answer was lost (the process died) is
					// sent again with the same request id to another
					// process: AIP-155 makes that the same operation.
					for attempt := 0; ; attempt++ {
						id, err := send(t, f.live(l+attempt), sub, requestID)
						if err == nil {
							sub.id = id
							break
						}
						if attempt > 20 || t.Failed() {
							t.Errorf("request %s never accepted: %v", requestID, err)
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
					mu.Lock()
					ops = append(ops, sub)
					sent++
					n := sent
					mu.Unlock()
					progress <- n
				}
			}
		})
	}
	total := perSecret * len(secrets)
	go func() {
		wg.Wait()
		close(progress)
	}()

	// Disrupt the fleet while the load runs (from the test's goroutine,
	// which may fail the test).
	for n := range progress {
		switch n {
		case total / 3:
			f.setDown(0, true)
			running := countState(t, c.dbURL, "running")
			f.procs[0].kill9(t)
			t.Logf("killed %s with SIGKILL after %d requests, %d operations RUNNING in the fleet", f.procs[0].name, n, running)
		case 2 * total / 3:
			f.setDown(1, true)
			took := f.procs[1].term(t, 30*time.Second)
			t.Logf("stopped %s with SIGTERM after %d requests in %s", f.procs[1].name, n, took)
			f.replace(1, c.start(t, "replicad-1-restarted", flags...))
		}
	}
	if t.Failed() {
		return
	}
	if len(ops) != total {
		t.Fatalf("%d requests accepted, want %d", len(ops), total)
	}

	// replictl --wait on one of the operations, through a survivor.
	last := ops[len(ops)-1]
	out, err := exec.Command(filepath.Join(binDir, "replictl"), "operations", "get", last.id, "--wait", "--server", f.live(2).grpcAddr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCEEDED") {
		t.Errorf("replictl --wait: %v\n%s", err, out)
	}

	waitAll(t, f.live(2).client, ops, 2*time.Minute)
	verifyFinalState(t, c.dbURL, sm, ops)
	checkMetrics(t, c.dbURL, f.live(2), f.live(1))
}

// checkMetrics compares the table-backed replicad_operations gauge of each
// live process with the operations table, and the per-process counters with
// what the table says they can at most be.
func checkMetrics(t *testing.T, dbURL string, procs ...*proc) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, dbURL)
	want := map[string]float64{}
	var terminal float64
	rows, err := conn.Query(ctx, "SELECT kind, state, count(*) FROM operations GROUP BY kind, state")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind, state string
		var n float64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf(`kind="%s",state="%s"`, kind, state)] = n
		if state == "succeeded" || state == "failed" || state == "cancelled" {
			terminal += n
		}
	}
	rows.Close()
	var finished float64
	for _, p := range procs {
		got := scrape(t, p)
		gauge := map[string]float64{}
		for series, v := range got {
			if labels, ok := strings.CutPrefix(series, "replicad_operations{"); ok {
				gauge[strings.TrimSuffix(labels, "}")] = v
			}
			if strings.HasPrefix(series, "replicad_operations_finished_total{") {
				finished += v
			}
		}
		for k, n := range want {
			if gauge[k] != n {
				t.Errorf("%s: replicad_operations{%s} = %v, the table says %v", p.name, k, gauge[k], n)
			}
		}
		for k, v := range gauge {
			if _, ok := want[k]; !ok && v != 0 {
				t.Errorf("%s: replicad_operations{%s} = %v, absent from the table", p.name, k, v)
			}
		}
		if got["replicad_queue_depth"] != 0 {
			t.Errorf("%s: replicad_queue_depth = %v after every operation ended", p.name, got["replicad_queue_depth"])
		}
	}
	if finished == 0 || finished > terminal {
		t.Errorf("live processes finished %v operations by their counters; the table holds %v terminal ones", finished, terminal)
	}
}

// scrape reads /metrics into series → value.
func scrape(t *testing.T, p *proc) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
