// Command replicad is the replicad server: a control plane for AWS Secrets
// Manager multi-Region replication. Run `replicad --help` for its settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/replicad/replicad/internal/buildinfo"
	"github.com/replicad/replicad/internal/daemon"
)

const usage = `replicad: a control plane for AWS Secrets Manager multi-Region replication.

Usage:
  replicad [flags]            serve gRPC and REST, and execute operations
  replicad --version          print the version and exit
  replicad audit verify       verify the audit trail's hash chain (see replicad audit --help)
  replicad audit verify-export FILE...
  replicad policy check       may principal P do action A on secret S in Region R? (see replicad policy --help)

Every flag can also be set by an environment variable (REPLICAD_ and the flag
name in upper case with - as _, e.g. REPLICAD_GRPC_ADDR) or in a YAML file
given by --config (flag names as keys). Flags win over the environment, which
wins over the file. DATABASE_URL is read when --database-url is not set.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(stdout, "replicad", buildinfo.Read())
		return 0
	}
	if len(args) > 0 && args[0] == "audit" {
		return runAudit(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "policy" {
		return runPolicy(args[1:], stdout, stderr)
	}

	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "replicad:", err)
		return 2
	}
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "replicad:", err)
		return 1
	}
	if err := d.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "replicad:", err)
		return 1
	}
	return 0
}

// parseConfig reads the settings (see daemon.ParseArgs) and loads the key
// files.
func parseConfig(args []string, stderr io.Writer) (daemon.Config, error) {
	cfg, err := daemon.ParseArgs(args, stderr, usage)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.LoadKeys()
}
