// Command sm-standin serves the in-memory AWS Secrets Manager stand-in
// (package standin) on a port, for manual testing, demos and load runs.
// Point the AWS SDK or CLI at it with an endpoint URL; the Region of each call
// is taken from its signature.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/replicad/replicad/internal/standin"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "sm-standin:", err)
		os.Exit(1)
	}
}

const usageHeader = `sm-standin serves an in-memory AWS Secrets Manager (CreateSecret,
DescribeSecret, ListSecrets, GetSecretValue, ReplicateSecretToRegions,
RemoveRegionsFromReplication, StopReplicationToReplica, DeleteSecret) for
every Region on one endpoint. The Region of a call is read from its SigV4
signature, so per-Region SDK clients with the same endpoint URL just work.

On start it prints one line to stdout:
  sm-standin listening on http://ADDR
Logs are JSON on stderr. Admin endpoints: GET /_standin/stats,
GET|POST /_standin/faults, POST /_standin/reset, POST /_standin/seed-demo.

Every flag can also be set by the environment variable shown with it;
a flag given on the command line wins.

Flags:
`

// run is main without the process: tests call it with their own arguments,
// environment and outputs, and stop it by cancelling ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("sm-standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	e := envFlags{fs: fs, getenv: getenv}
	addr := e.String("addr", "SM_STANDIN_ADDR", "127.0.0.1:4566", "`host:port` to listen on; port 0 picks a free one")
	account := e.String("account", "SM_STANDIN_ACCOUNT", standin.AccountIDDefault, "12-digit AWS account `id` in every ARN")
	delay := e.Duration("replication-delay", "SM_STANDIN_REPLICATION_DELAY", standin.ReplicationDelayDefault,
		"how long a new replica stays InProgress before InSync; 0 means InSync from the next read")
	throttle := e.Float("throttle-rate", "SM_STANDIN_THROTTLE_RATE", 0, "`probability` (0-1) of answering any API call with ThrottlingException")
	errRate := e.Float("error-rate", "SM_STANDIN_ERROR_RATE", 0, "`probability` (0-1) of answering any API call with InternalServiceError (HTTP 500)")
	latency := e.Duration("latency", "SM_STANDIN_LATENCY", 0, "delay added to every API call")
	writeBudget := e.Int("write-budget", "SM_STANDIN_WRITE_BUDGET", 0,
		"write `requests/s` per Region (Replicate, RemoveRegions, StopReplication, Create, Delete) before ThrottlingException; 0 = unlimited")
	readBudget := e.Int("read-budget", "SM_STANDIN_READ_BUDGET", 0, "read `requests/s` per Region (DescribeSecret, ListSecrets) before ThrottlingException; 0 = unlimited")
	seedDemo := e.Bool("seed-demo", "SM_STANDIN_SEED_DEMO", false, "create prod/payments/api-key and prod/db/primary in "+standin.DemoRegion+" at start")
	logLevel := e.String("log-level", "SM_STANDIN_LOG_LEVEL", "info", "`level` of logs: debug (one record per request), info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(e.errs...); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	faults := standin.Faults{ThrottleRate: *throttle, ErrorRate: *errRate, Latency: *latency, WriteBudget: *writeBudget, ReadBudget: *readBudget}
	srv, err := standin.New(standin.Options{AccountID: *account, ReplicationDelay: *delay, Faults: faults, Logger: logger})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *seedDemo {
		arns, err := srv.SeedDemo(ctx)
		if err != nil {
			return err
		}
		logger.Info("seeded demo secrets", "arns", arns)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stdout, "sm-standin listening on http://%s\n", ln.Addr())
	logger.Info("listening", "addr", ln.Addr().String(), "account", *account, "replicationDelay", delay.String(), "faults", faults)
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// envFlags defines flags whose default comes from an environment variable
// when it is set, so a container can be configured without a command line.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

// lookup returns the variable's value, parsed, or def; a value that does not
// parse is an error rather than silently ignored.
func lookup[T any](e *envFlags, env string, def T, parse func(string) (T, error)) T {
	v := e.getenv(env)
	if v == "" {
		return def
	}
	parsed, err := parse(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: %w", env, v, err))
		return def
	}
	return parsed
}

func (e *envFlags) String(name, env, def, usage string) *string {
	v := lookup(e, env, def, func(s string) (string, error) { return s, nil })
	return e.fs.String(name, v, usage+" ($"+env+")")
}

func (e *envFlags) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	return e.fs.Duration(name, lookup(e, env, def, time.ParseDuration), usage+" ($"+env+")")
}

func (e *envFlags) Float(name, env string, def float64, usage string) *float64 {
	parse := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	return e.fs.Float64(name, lookup(e, env, def, parse), usage+" ($"+env+")")
}

func (e *envFlags) Int(name, env string, def int, usage string) *int {
	return e.fs.Int(name, lookup(e, env, def, strconv.Atoi), usage+" ($"+env+")")
}

func (e *envFlags) Bool(name, env string, def bool, usage string) *bool {
	return e.fs.Bool(name, lookup(e, env, def, strconv.ParseBool), usage+" ($"+env+")")
}
