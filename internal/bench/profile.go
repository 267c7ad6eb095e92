package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Profile is a saved pprof profile and its top entries.
type Profile struct {
	Case int    `json:"case"`
	Kind string `json:"kind"` // "cpu" or "allocs"
	// File is the profile's name in the profile directory.
	File string `json:"file"`
	// Seconds is the CPU profile's length (allocations are cumulative over
	// the process's life).
	Seconds int `json:"seconds,omitempty"`
	// Top is `go tool pprof -top` by own (flat) cost; TopCum by cumulative
	// cost, showing only replicad's, River's and the AWS SDK's functions
	// (the gRPC and runtime frames that wrap everything say nothing).
	Top    string `json:"top"`
	TopCum string `json:"top_cum"`
}

// pprofShow selects the functions TopCum lists.
const pprofShow = `github.com/replicad/replicad/|github.com/riverqueue/river|aws-sdk-go-v2/service/`

// cpuProfile starts a CPU profile of seconds on replicad's pprof listener
// and returns a function that waits for it and saves it.
func (r *Runner) cpuProfile(ctx context.Context, rd *Replicad, caseID int, name string, seconds int) func() error {
	done := make(chan error, 1)
	file := fmt.Sprintf("case%d-%s-cpu.pb.gz", caseID, name)
	go func() {
		done <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", rd.PprofAddr, seconds), filepath.Join(r.ProfileDir, file))
	}()
	return func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		r.addProfile(ctx, Profile{Case: caseID, Kind: "cpu", File: file, Seconds: seconds})
		return nil
	}
}

// profileLoad runs do from clients goroutines for a second of warm-up and
// then ProfileSeconds, profiling replicad's CPU over the latter.
func (r *Runner) profileLoad(ctx context.Context, rd *Replicad, caseID int, name string, clients int, do func(context.Context, int, int64) error) error {
	secs := r.Sizes.ProfileSeconds
	loadDone := make(chan LoadResult, 1)
	go func() {
		loadDone <- Load{Clients: clients, Warmup: time.Second, Duration: time.Duration(secs)*time.Second + time.Second}.Run(ctx, do)
	}()
	time.Sleep(time.Second) // profile the steady state, after the warm-up
	wait := r.cpuProfile(ctx, rd, caseID, name, secs)
	<-loadDone
	return wait()
}

// allocsProfile saves the allocations replicad made since it started.
func (r *Runner) allocsProfile(ctx context.Context, rd *Replicad, caseID int, name string) error {
	file := fmt.Sprintf("case%d-%s-allocs.pb.gz", caseID, name)
	if err := fetch(ctx, "http://"+rd.PprofAddr+"/debug/pprof/allocs", filepath.Join(r.ProfileDir, file)); err != nil {
		return fmt.Errorf("allocs profile: %w", err)
	}
	r.addProfile(ctx, Profile{Case: caseID, Kind: "allocs", File: file})
	return nil
}

func (r *Runner) addProfile(ctx context.Context, p Profile) {
	p.summarize(ctx, r.ProfileDir)
	r.profiles = append(r.profiles, p)
}

// summarize fills Top and TopCum from the profile file in dir.
func (p *Profile) summarize(ctx context.Context, dir string) {
	path := filepath.Join(dir, p.File)
	var extra []string
	if p.Kind == "allocs" {
		extra = []string{"-sample_index=alloc_space"}
	}
	p.Top = pprofTop(ctx, path, extra...)
	p.TopCum = pprofTop(ctx, path, append(extra, "-cum", "-show="+pprofShow, "-nodecount=25")...)
}

// Resummarize recomputes the profiles' summaries from their files in dir
// (after the way they are summarised changed; the figures do not).
func (rep *Report) Resummarize(ctx context.Context, dir string) {
	for i := range rep.Profiles {
		rep.Profiles[i].summarize(ctx, dir)
	}
}

// pprofTop is `go tool pprof -top` of a profile, without the lines naming
// the local file and build, which differ from run to run.
func pprofTop(ctx context.Context, path string, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=15"}, extra...) // a later -nodecount wins
	out, err := exec.CommandContext(ctx, "go", append(args, path)...).Output()
	if err != nil {
		return "go tool pprof failed: " + err.Error()
	}
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(line, "File: ") || strings.HasPrefix(line, "Build ID: ") || strings.HasPrefix(line, "Time: ") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

func fetch(ctx context.Context, url, dst string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// Profiles are tens of kilobytes: reading one into memory is fine.
	b, err := do(req)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
