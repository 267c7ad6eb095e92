package replictl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/buildinfo"
)

// IO is the world replictl talks to. Whether Stdout is a terminal decides
// how --wait shows progress: redrawn in place, or one plain line per change.
type IO struct {
	Stdout io.Writer
	Stderr io.Writer
	// Terminal is true when Stdout is a terminal that understands ANSI
	// cursor movement.
	Terminal bool
	// Width is the terminal's width in columns (0: unknown); live progress
	// lines are cut to it so redrawing stays aligned.
	Width int
	// Stdin answers the confirmation a failover asks for on a terminal.
	Stdin io.Reader
	// Getenv reads the environment (REPLICTL_SERVER, REPLICTL_TOKEN, …).
	Getenv func(string) string
	// PollInterval is how often --wait asks for the operation; 0 means
	// 500ms.
	PollInterval time.Duration
}

const usageText = `replictl: the replicad command-line client.

Usage:
  replictl replicate SECRET --region REGION[:KMS_KEY]... [--force-overwrite] [--replace-kms-key] [--wait]
  replictl remove SECRET --region REGION... [--wait]
  replictl promote SECRET --region REGION [--force] [--wait]
  replictl status SECRET
  replictl operations list [--secret SECRET] [--state STATE] [--limit N]
  replictl operations get ID [--wait]
  replictl operations cancel ID
  replictl operations approve ID
  replictl audit list [--since 1h] [--principal P] [--secret S] [--method M] [--outcome O]
  replictl audit verify
  replictl policy plan FILE | --name NAME
  replictl policy create|update FILE [--validate-only]
  replictl policy get|delete NAME
  replictl policy list
  replictl policy status NAME [--wait]
  replictl dr readiness --from REGION --to REGION
  replictl dr failover --from REGION --to REGION [--secret S] [--name GLOB] [--tag K=V] [--force] [--plan|--yes] [--wait]
  replictl dr failback FAILOVER_ID [--force] [--plan|--yes] [--wait]
  replictl secrets list [--account ID] [--primary-region R] [--replica-region R] [--replica-status S]
                        [--name-prefix P] [--tag K[=V]] [--drift yes|no] [--drift-kind K] [--gone] [--limit N]
  replictl secrets get ARN [--recent N]
  replictl --version

SECRET is a name (prod/db/primary) or a full ARN. Every command takes
-o text|json and the connection flags (see replictl COMMAND --help):
--server (env REPLICTL_SERVER, default 127.0.0.1:9090), --tls, --ca-file,
--cert-file, --key-file, --token-file or --token (env REPLICTL_TOKEN).

Exit status: 0 success; 1 operation FAILED or CANCELLED (or audit chain
broken, or policy status --wait ending not compliant); 2 bad usage or INVALID_ARGUMENT; 3 server unreachable; 4 other
errors.
`

// Run executes one replictl command line and returns its exit status.
func Run(ctx context.Context, args []string, stdio IO) int {
	if stdio.Getenv == nil {
		stdio.Getenv = func(string) string { return "" }
	}
	if stdio.PollInterval <= 0 {
		stdio.PollInterval = 500 * time.Millisecond
	}
	c := &cli{io: stdio}
	err := c.dispatch(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return exitCode(stdio.Stderr, err)
}

type cli struct {
	io   IO
	conn connFlags
	// output is "text" or "json".
	output string
}

type commandFunc func(ctx context.Context, args []string) error

func (c *cli) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.io.Stderr, usageText)
		return usageErrorf("no command given")
	}
	commands := map[string]commandFunc{
		"replicate":  c.replicate,
		"remove":     c.remove,
		"promote":    c.promote,
		"status":     c.status,
		"operations": c.operations,
		"audit":      c.audit,
		"policy":     c.policy,
		"dr":         c.dr,
		"secrets":    c.secrets,
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(c.io.Stdout, usageText)
		return flag.ErrHelp
	}
	if args[0] == "version" || args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(c.io.Stdout, "replictl", buildinfo.Read())
		return nil
	}
	args = c.moveLeadingFlags(args)
	run, ok := commands[args[0]]
	if !ok {
		fmt.Fprint(c.io.Stderr, usageText)
		return usageErrorf("unknown command %q", args[0])
	}
	return run(ctx, args[1:])
}

// moveLeadingFlags lets connection flags come before the command, as in
// `replictl --server host:9090 operations list`: they are moved to the end,
// where the command's own flag set reads them.
func (c *cli) moveLeadingFlags(args []string) []string {
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return args
	}
	lead := flag.NewFlagSet("replictl", flag.ContinueOnError)
	lead.SetOutput(io.Discard)
	var scratch cli
	scratch.conn.register(lead, c.io.Getenv)
	lead.String("o", "", "")
	if err := lead.Parse(args); err != nil || lead.NArg() == 0 {
		// Leave it to the usual path to complain.
		return args
	}
	rest := lead.Args()
	leading := args[:len(args)-len(rest)]
	return append(slices.Clone(rest), leading...)
}

// subcommands dispatches a command group such as `operations list`.
func (c *cli) subcommands(ctx context.Context, group string, args []string, subs map[string]commandFunc) error {
	if len(args) == 0 || subs[args[0]] == nil {
		names := make([]string, 0, len(subs))
		for _, n := range []string{"plan", "create", "update", "list", "get", "delete", "status", "cancel", "approve", "verify", "readiness", "failover", "failback"} {
			if subs[n] != nil {
				names = append(names, n)
			}
		}
		if len(args) == 0 {
			return usageErrorf("%s: want a subcommand: %s", group, strings.Join(names, ", "))
		}
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprintf(c.io.Stdout, "Usage: replictl %s %s ...\n", group, strings.Join(names, "|"))
			return flag.ErrHelp
		}
		return usageErrorf("%s: unknown subcommand %q (want %s)", group, args[0], strings.Join(names, ", "))
	}
	return subs[args[0]](ctx, args[1:])
}

// flagSet starts a command's flags with the ones every command shares.
func (c *cli) flagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("replictl "+name, flag.ContinueOnError)
	fs.SetOutput(c.io.Stderr)
	c.conn.register(fs, c.io.Getenv)
	fs.StringVar(&c.output, "o", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: replictl %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse reads flags and positional arguments in any order (Go's flag
// package alone stops at the first positional one, and people write
// `replictl replicate prod/db --region eu-west-3`). want is the exact
// number of positional arguments.
func (c *cli) parse(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != want {
		fs.Usage()
		if want == 0 {
			return nil, usageErrorf("%s: unexpected argument %q", fs.Name(), pos[0])
		}
		return nil, usageErrorf("%s: want %s", fs.Name(), names)
	}
	if c.output != "text" && c.output != "json" {
		return nil, usageErrorf("-o %q: want text or json", c.output)
	}
	return pos, nil
}

// clients are the service stubs on one connection to replicad.
type clients struct {
	conn        *grpc.ClientConn
	replication replicadv1.ReplicationServiceClient
	audit       replicadv1.AuditServiceClient
	policies    replicadv1.PolicyServiceClient
	dr          replicadv1.DisasterRecoveryServiceClient
	inventory   replicadv1.InventoryServiceClient
}

func (c *cli) dial() (*clients, error) {
	conn, err := c.conn.dial()
	if err != nil {
		return nil, err
	}
	return &clients{
		conn:        conn,
		replication: replicadv1.NewReplicationServiceClient(conn),
		audit:       replicadv1.NewAuditServiceClient(conn),
		policies:    replicadv1.NewPolicyServiceClient(conn),
		dr:          replicadv1.NewDisasterRecoveryServiceClient(conn),
		inventory:   replicadv1.NewInventoryServiceClient(conn),
	}, nil
}

func (cl *clients) close() { _ = cl.conn.Close() }

// connect parses the command line (see parse), then dials replicad.
func (c *cli) connect(fs *flag.FlagSet, args []string, want int, names string) ([]string, *clients, error) {
	pos, err := c.parse(fs, args, want, names)
	if err != nil {
		return nil, nil, err
	}
	cl, err := c.dial()
	return pos, cl, err
}

// call runs one RPC under --timeout and classifies its error.
func call[Resp any](ctx context.Context, c *cli, cl *clients, what string, fn func(context.Context) (Resp, error)) (Resp, error) {
	ctx, cancel := c.conn.callContext(ctx)
	defer cancel()
	resp, err := fn(ctx)
	if err != nil {
		return resp, rpcError(what, cl.conn, c.conn.server, err)
	}
	return resp, nil
}
