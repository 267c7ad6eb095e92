package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/testtier"
)

// TestSmoke runs every case at the tiny scale against freshly built
// binaries, so that `make test` exercises the harness and it cannot rot,
// and checks that each case measured something sensible. The figures
// themselves are not judged: a test machine is not a benchmark machine.
func TestSmoke(t *testing.T) {
	testtier.Slow(t)
	// A bound for a hung case, not a speed target: on a loaded machine
	// (make test runs every package at once) the tiny scale has taken over
	// four minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stack, err := StartStack(ctx, StackOptions{ModuleRoot: moduleRoot(t), Progress: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	sz := Scales()["tiny"]
	r := &Runner{Stack: stack, Sizes: sz, ProfileDir: t.TempDir()}
	results := r.Run(ctx, nil)
	if len(results) != len(Cases()) {
		t.Fatalf("%d results for %d cases", len(results), len(Cases()))
	}
	byID := map[int]*Result{}
	for _, res := range results {
		byID[res.ID] = res
		if res.Error != "" {
			t.Errorf("case %d: %s", res.ID, res.Error)
		}
		for _, tg := range res.Targets {
			if math.IsNaN(tg.Actual) {
				t.Errorf("case %d: target %q not measured", res.ID, tg.Name)
			}
		}
	}
	positive := func(id int, names ...string) {
		t.Helper()
		for _, name := range names {
			if v := byID[id].Value(name); !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("case %d: %s = %v, want > 0", id, name, v)
			}
		}
	}
	zero := func(id int, names ...string) {
		t.Helper()
		for _, name := range names {
			if v := byID[id].Value(name); v != 0 {
				t.Errorf("case %d: %s = %v, want 0", id, name, v)
			}
		}
	}
	equal := func(id int, name string, want int) {
		t.Helper()
		if v := byID[id].Value(name); v != float64(want) {
			t.Errorf("case %d: %s = %v, want %d", id, name, v, want)
		}
	}
	for _, c := range []string{"c=4 ", "c=8 "} {
		positive(1, c+"pgbench TPS", c+"gRPC accepted", c+"gRPC latency p99", c+"gRPC / pgbench", c+"operations row width", c+"gRPC CPU per request: replicad")
		zero(1, c+"gRPC errors")
		positive(2, c+"REST accepted", c+"REST latency p99", c+"REST / gRPC")
		zero(2, c+"REST errors")
	}
	equal(3, "replicad operations succeeded", sz.E2EOps)
	positive(3, "replicad throughput", "River throughput", "replicad / River")
	equal(4, "operations succeeded", sz.QuotaOps)
	zero(4, "ThrottlingException answered by the stand-in", "operations failed or cancelled")
	positive(4, "completion time")
	if v := byID[5].Value("pickup (reply → first AWS call) p95"); math.IsNaN(v) || v > 5000 || v < -1000 {
		t.Errorf("case 5: pickup p95 = %v ms", v)
	}
	positive(6, "Status rate", "GetOperation rate", "GetOperation latency p99")
	zero(6, "Status errors", "GetOperation errors")
	equal(7, "operations succeeded", sz.MemoryStored+sz.MemoryQueued)
	if v := byID[7].Value("peak RSS (VmHWM)"); !(v > 10 && v < 4096) {
		t.Errorf("case 7: peak RSS %v MiB", v)
	}

	for _, d := range sz.ReplicationDelays {
		tag := fmt.Sprintf("delay %s: ", d)
		equal(8, tag+"operations succeeded", sz.ReplicationOps)
		positive(8, tag+"completion / ideal")
	}

	equal(9, "secrets failed over", sz.FailoverSecrets)
	for _, name := range []string{"us-west-2 StopReplicationToReplica", "eu-west-1 StopReplicationToReplica", "us-west-2 ReplicateSecretToRegions"} {
		equal(9, name, sz.FailoverSecrets)
	}
	zero(9, "requests to the down Region")
	positive(9, "completion / ideal")

	positive(10, "scan: duration", "time to compliance / ideal", "peak RSS with the inventory (VmHWM)")
	equal(10, "scan: secrets listed", sz.FleetSecrets)
	equal(10, "policy operations", sz.FleetSecrets-(sz.FleetSecrets+9)/10)

	// The paced cases ran side by side: each began before any of them
	// ended.
	var lastBegan, firstEnded time.Time
	for _, c := range Cases() {
		if !c.Paced {
			continue
		}
		res := byID[c.ID]
		ended := res.Began.Add(time.Duration(res.Seconds * float64(time.Second)))
		if res.Began.After(lastBegan) {
			lastBegan = res.Began
		}
		if firstEnded.IsZero() || ended.Before(firstEnded) {
			firstEnded = ended
		}
	}
	if !lastBegan.Before(firstEnded) {
		t.Errorf("the paced cases ran one after another: the last began at %s, the first ended at %s", lastBegan.Format(time.StampMilli), firstEnded.Format(time.StampMilli))
	}

	if got := len(r.Profiles()); got != 7 {
		t.Errorf("%d profiles, want CPU and allocations of cases 1 and 3, and case 6's two CPU profiles and its allocations", got)
	}
	for _, p := range r.Profiles() {
		if info, err := os.Stat(filepath.Join(r.ProfileDir, p.File)); err != nil || info.Size() == 0 {
			t.Errorf("profile %s: %v", p.File, err)
		}
		if !strings.Contains(p.Top, "flat%") {
			t.Errorf("profile %s: no pprof summary: %s", p.File, p.Top)
		}
	}

	out := t.TempDir()
	rep := &Report{Command: "test", Scale: "tiny", Machine: DescribeMachine(ctx, moduleRoot(t)), Cases: results, Profiles: r.Profiles()}
	if err := rep.WriteJSON(filepath.Join(out, "benchmarks.json")); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(filepath.Join(out, "BENCHMARKS.md"), "hand-written analysis", "profiles"); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "BENCHMARKS.md"))
	for _, want := range []string{"## Targets", "### 7. ", "hand-written analysis", "case1-grpc-cpu.pb.gz"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
}

func TestLatenciesPercentiles(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	s := l.Summarize()
	if s.Count != 100 || s.P50 != 50 || s.P95 != 95 || s.P99 != 99 || s.Max != 100 || s.Mean != 50.5 {
		t.Errorf("summary %+v", s)
	}
	var empty Latencies
	if s := empty.Summarize(); s != (Summary{}) {
		t.Errorf("empty summary %+v", s)
	}
}

func TestTargetMiss(t *testing.T) {
	r := newResult(1, "x")
	r.target("rate", "≥ 0.5", 0.4, 0.5, "×", true)
	r.target("p99", "≤ 10 ms", 12, 10, "ms", false)
	r.target("throttles", "0", 0, 0, "responses", false)
	if r.Targets[0].Met || !strings.Contains(r.Targets[0].Miss, "20% below") {
		t.Errorf("at-least target: %+v", r.Targets[0])
	}
	if r.Targets[1].Met || !strings.Contains(r.Targets[1].Miss, "20% above") {
		t.Errorf("at-most target: %+v", r.Targets[1])
	}
	if !r.Targets[2].Met {
		t.Errorf("zero target: %+v", r.Targets[2])
	}
}

// moduleRoot finds the directory holding go.mod above the test's.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// testLog sends the harness's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testLog{}
