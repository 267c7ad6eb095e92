// Command bench is `make bench`: it builds replicad and sm-standin, starts
// a private, durable PostgreSQL (fsync and synchronous_commit on), runs the
// benchmark cases of package internal/bench against the built binaries,
// and writes docs/BENCHMARKS.md and docs/benchmarks.json, with profiles
// under docs/profiles/. The analysis in docs/BENCHMARKS.md is hand-written
// in docs/BENCHMARKS.notes.md and included as it is.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/replicad/replicad/internal/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "docs", "directory for BENCHMARKS.md, benchmarks.json and profiles/")
	scale := flag.String("scale", "full", "case sizes: full (the issue's), small (for development) or tiny")
	cases := flag.String("cases", "", "comma-separated case numbers to run (default: all)")
	profiles := flag.Bool("profiles", true, "profile cases 1, 3 and 6 (in passes of their own) into OUT/profiles")
	notes := flag.String("notes", "", "hand-written analysis to include (default OUT/BENCHMARKS.notes.md)")
	render := flag.Bool("render", false, "measure nothing: rewrite OUT/BENCHMARKS.md from OUT/benchmarks.json, the profiles and the notes (after editing the notes)")
	pacedApart := flag.Bool("paced-apart", false, "run the paced cases (4, 8, 9, 10) one after another instead of side by side")
	pgStat := flag.Bool("pg-stat-statements", false, "diagnosis: load pg_stat_statements and report each case's busiest statements (adds overhead: not for reference figures)")
	flag.Parse()
	if *notes == "" {
		*notes = filepath.Join(*out, "BENCHMARKS.notes.md")
	}
	profileDir := filepath.Join(*out, "profiles")
	if *render {
		rep, err := bench.ReadReport(filepath.Join(*out, "benchmarks.json"))
		if err != nil {
			return err
		}
		rep.Resummarize(context.Background(), profileDir)
		if err := rep.WriteJSON(filepath.Join(*out, "benchmarks.json")); err != nil {
			return err
		}
		return writeMarkdown(rep, *out, *notes, profileDir)
	}

	sizes, ok := bench.Scales()[*scale]
	if !ok {
		return fmt.Errorf("unknown scale %q", *scale)
	}
	var ids []int
	for _, s := range strings.Split(*cases, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("-cases: %q is not a case number", s)
		}
		ids = append(ids, id)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	began := time.Now()
	opts := bench.StackOptions{ModuleRoot: root, Durable: true, Progress: os.Stderr}
	if *pgStat {
		opts.Settings = bench.PgStatSettings()
	}
	stack, err := bench.StartStack(ctx, opts)
	if err != nil {
		return err
	}
	defer stack.Close()
	pg, err := stack.Settings(ctx)
	if err != nil {
		return err
	}
	runner := &bench.Runner{Stack: stack, Sizes: sizes, PgStat: *pgStat, PacedApart: *pacedApart}
	if *profiles {
		runner.ProfileDir = profileDir
	}
	results := runner.Run(ctx, ids)

	command := "make bench"
	if *scale != "full" || *cases != "" || !*profiles || *pgStat || *pacedApart {
		command = fmt.Sprintf("go run ./internal/cmd/bench -out %s -scale %s", *out, *scale)
		if *cases != "" {
			command += " -cases " + *cases
		}
		if !*profiles {
			command += " -profiles=false"
		}
		if *pgStat {
			command += " -pg-stat-statements"
		}
		if *pacedApart {
			command += " -paced-apart"
		}
	}
	rep := &bench.Report{
		GeneratedAt: began.UTC().Format(time.RFC3339),
		Command:     command,
		Scale:       *scale,
		WallSeconds: time.Since(began).Seconds(),
		Machine:     bench.DescribeMachine(ctx, root),
		Postgres:    pg,
		Cases:       results,
		Profiles:    runner.Profiles(),
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := rep.WriteJSON(filepath.Join(*out, "benchmarks.json")); err != nil {
		return err
	}
	if err := writeMarkdown(rep, *out, *notes, profileDir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s in %s\n", filepath.Join(*out, "BENCHMARKS.md"), filepath.Join(*out, "benchmarks.json"),
		time.Since(began).Round(time.Second))
	var failed []string
	for _, r := range results {
		if r.Error != "" {
			failed = append(failed, fmt.Sprintf("case %d: %s", r.ID, r.Error))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// writeMarkdown renders OUT/BENCHMARKS.md with the hand-written notes.
func writeMarkdown(rep *bench.Report, out, notes, profileDir string) error {
	analysis, err := os.ReadFile(notes)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return rep.WriteMarkdown(filepath.Join(out, "BENCHMARKS.md"), string(analysis), profileDir)
}

// moduleRoot is the directory of the main module's go.mod: the binaries are
// built from there whatever the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the replicad module")
	}
	return filepath.Dir(mod), nil
}
