package daemon

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffyaml"
	"go.opentelemetry.io/otel/trace"

	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/auth"
	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/inventory"
	"github.com/replicad/replicad/internal/queue"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/seal"
	"github.com/replicad/replicad/internal/tracing"
)

// Config is every setting of the replicad server. RegisterFlags exposes each
// as a flag; cmd/replicad also reads them from REPLICAD_* environment
// variables and an optional YAML file.
type Config struct {
	GRPCAddr string
	HTTPAddr string
	// MetricsAddr, if set, serves /metrics on its own plain-HTTP listener
	// instead of the API's, so scraping needs no client credentials and a
	// network policy can admit Prometheus to it alone.
	MetricsAddr string

	DatabaseURL string
	// DBMaxConns sizes the API pool; QueueMaxConns the queue's own pool.
	DBMaxConns    int
	QueueMaxConns int

	DefaultRegion  string
	AllowedRegions []string

	AWS    awssm.Config
	Engine engine.Config
	// Inventory configures the inventory scanner. Its targets are each
	// configured account's Regions, or, with no account configured, the
	// ambient account in InventoryRegions.
	Inventory inventory.Config
	// InventoryRegions are the Regions scanned in the ambient account
	// (default AllowedRegions, else DefaultRegion).
	InventoryRegions []string
	// AccountsFile lists the accounts replicad acts in (YAML, see
	// LoadAccounts).
	AccountsFile string
	Tracing      tracing.Config
	// TracerProvider, if set, replaces the one Tracing would build (tests).
	TracerProvider trace.TracerProvider

	// Drain is how long SIGTERM lets in-flight work finish before running
	// jobs are handed back to the queue.
	Drain time.Duration
	// Heartbeat is how often this process announces itself to the others
	// sharing the database (default HeartbeatDefault).
	Heartbeat time.Duration

	// Key files, read by LoadKeys into the key fields below.
	DataKeyFile          string
	DataKeyPreviousFiles []string
	FingerprintKeyFile   string
	DataKeys             [][]byte // DataKeys[0] seals, all open
	FingerprintKey       []byte

	// Audit settings. AuditDisabled turns the audit trail off entirely; it
	// has no flag and exists for benchmarks that measure the trail's cost.
	AuditRetention time.Duration
	// AuditChainInterval is how often events stored outside the audit
	// Writer (an accept's, in its own transaction) are linked into the
	// chain (default audit.ChainIntervalDefault).
	AuditChainInterval time.Duration
	AuditExportDir     string
	AuditPruneInterval time.Duration
	AuditDisabled      bool

	// PprofAddr, if set, serves net/http/pprof there (loopback only).
	PprofAddr string

	// Access control: TLS for both listeners, mutual TLS and/or JWT bearer
	// tokens, and the authorization policy.
	TLSCertFile  string
	TLSKeyFile   string
	ClientCAFile string
	JWKSFile     string
	JWKSURL      string
	// JWKSMinRefresh is the least time between JWKS fetches caused by
	// tokens naming an unknown key id (default
	// auth.JWKSMinRefreshIntervalDefault).
	JWKSMinRefresh    time.Duration
	JWTIssuer         string
	JWTAudience       string
	JWTPrincipalClaim string
	JWTGroupsClaim    string
	PolicyFile        string

	// InsecureDev serves without authentication, on loopback only.
	InsecureDev bool

	// The web console (internal/console) at /ui/ on the HTTP listener:
	// UIOff turns it off (--ui=false); UIReadOnly hides its mutating
	// actions and refuses them to browsers. AuthTokenHeader names a header
	// an authenticating proxy uses to forward the user's bearer token
	// (X-Forwarded-Access-Token), read when Authorization is absent.
	UIOff           bool
	UIReadOnly      bool
	AuthTokenHeader string

	LogLevel slog.Level
	Logger   *slog.Logger
}

// HeartbeatDefault is Config.Heartbeat's default.
//
// Three seconds: a killed process's work is rescued about 2.5 intervals
// after its last heartbeat (deadAfter), 7.5 s, leaving room under the 15 s
// the DR runbook promises for a survivor whose workers are busy or whose
// machine is loaded (5 s gave 12.5 s, and 15.05 s was measured once under
// a load of 28 on two cores).
const HeartbeatDefault = 3 * time.Second

// RegisterFlags defines a flag for every setting, bound to c, with its
// default and an explanation for --help.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", "127.0.0.1:9090", "gRPC listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address: REST API, /healthz, /readyz, /openapi.json")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics on this address (plain HTTP) instead of on --http-addr; empty: on --http-addr")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://user@host:5432/db); DATABASE_URL is used when unset")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", 20, "connections in the API's pool")
	fs.IntVar(&c.QueueMaxConns, "queue-max-conns", 20, "connections in the queue's own pool (workers and job fetching)")
	fs.StringVar(&c.DefaultRegion, "default-region", "", "primary Region assumed for secrets named without an ARN (empty: callers must pass ARNs)")
	fs.Func("allowed-regions", "comma-separated Regions this server may act in, or repeat the flag (a YAML list in --config) (default: every Secrets Manager Region)",
		listSetter(&c.AllowedRegions))
	fs.StringVar(&c.AWS.Endpoint, "aws-endpoint", "", "send every Region's Secrets Manager requests to this URL (moto, the stand-in, a VPC endpoint); the Region travels in the signature")
	fs.Float64Var(&c.AWS.WriteRate, "aws-write-rate", awssm.WriteRateDefault, "requests/s per (account, Region) for ReplicateSecretToRegions, RemoveRegionsFromReplication and StopReplicationToReplica (AWS allows 50/s shared with the account's other writers); negative: unlimited")
	fs.Float64Var(&c.AWS.ReadRate, "aws-read-rate", awssm.ReadRateDefault, "requests/s per (account, Region) for DescribeSecret; negative: unlimited")
	fs.Float64Var(&c.AWS.ScanRate, "aws-scan-rate", awssm.ScanRateDefault, "requests/s per (account, Region) for the inventory scanner (its ListSecrets and DescribeSecret calls), a budget separate from --aws-read-rate; negative: unlimited")
	fs.IntVar(&c.AWS.MaxAttempts, "aws-max-attempts", awssm.MaxAttemptsDefault, "attempts per AWS call for throttling, 5xx, timeouts and connection errors (exponential backoff, full jitter)")
	fs.DurationVar(&c.AWS.MaxBackoff, "aws-max-backoff", awssm.MaxBackoffDefault, "longest wait between attempts of one AWS call")
	fs.DurationVar(&c.AWS.Timeout, "aws-timeout", awssm.TimeoutDefault, "timeout of one AWS call attempt")
	fs.IntVar(&c.Engine.Queue.Workers, "workers", queue.WorkersDefault, "operations this process executes at once")
	fs.BoolVar(&c.Engine.Queue.InsertOnly, "api-only", false, "accept operations but never execute them (run workers elsewhere)")
	fs.DurationVar(&c.Engine.Queue.JobTimeout, "job-timeout", queue.JobTimeoutDefault, "bound on one execution of an operation (long waits are snoozes, not executions)")
	fs.DurationVar(&c.Engine.Queue.RescueAfter, "rescue-after", queue.RescueAfterDefault, "when an execution left running by a crashed process is handed to another; must exceed --job-timeout")
	fs.IntVar(&c.Engine.Queue.MaxAttempts, "max-attempts", queue.MaxAttemptsDefault, "executions of an operation failing transiently before it is FAILED")
	fs.DurationVar(&c.Engine.Queue.RetryBase, "retry-base", queue.RetryBaseDefault, "first retry delay of a transiently failing operation (exponential, full jitter)")
	fs.DurationVar(&c.Engine.Queue.RetryMax, "retry-max", queue.RetryMaxDefault, "longest retry delay of a transiently failing operation")
	fs.DurationVar(&c.Engine.RetryFor, "retry-for", engine.RetryForDefault, "how long an operation retries transient AWS failures after its first failed attempt (its retry_deadline) before it is FAILED with the last error")
	fs.DurationVar(&c.Engine.ReplicationDeadline, "replication-deadline", engine.ReplicationDeadlineDefault, "how long Replicate waits for every Region to be InSync or Failed")
	fs.DurationVar(&c.Engine.PollInitial, "poll-initial", engine.PollInitialDefault, "first DescribeSecret polling interval")
	fs.DurationVar(&c.Engine.PollMax, "poll-max", engine.PollMaxDefault, "longest DescribeSecret polling interval")
	fs.IntVar(&c.Engine.AcceptCommitters, "accept-committers", engine.AcceptCommittersDefault, "accepting transactions that may commit at once; each takes every accept queued meanwhile (group commit), so fewer make larger batches")
	fs.DurationVar(&c.Engine.StatusCacheTTL, "status-cache-ttl", engine.StatusCacheTTLDefault, "how long Status reuses a secret's DescribeSecret answer; concurrent callers share one call, and replicad's own changes to the secret drop it sooner (negative: call AWS every time)")
	fs.IntVar(&c.Engine.OperationCacheSize, "operation-cache-size", engine.OperationCacheSizeDefault, "how many finished operations GetOperation and Status keep decoded in memory (finished operations never change, so any replica may; unfinished ones are always read from the database; negative: none)")
	fs.DurationVar(&c.Engine.InlinePoll, "inline-poll", engine.InlinePollDefault, "how long one execution polls before freeing its worker and resuming later (0: snooze after one look)")
	fs.DurationVar(&c.Inventory.Interval, "inventory-interval", inventory.IntervalDefault, "how often each (account, Region) is scanned into the inventory, from the end of its last complete scan; 0: no scanning")
	fs.Func("inventory-regions", "comma-separated Regions the inventory scans in the ambient account when no --accounts-file is given (default: --allowed-regions, else --default-region)",
		listSetter(&c.InventoryRegions))
	fs.IntVar(&c.Inventory.Workers, "inventory-workers", inventory.WorkersDefault, "(account, Region)s this process scans at once")
	fs.DurationVar(&c.Inventory.Lease, "inventory-lease", inventory.LeaseDefault, "how long a process holds an (account, Region) it scans without renewing (renewed after each page); a crashed scanner's target is taken over after this")
	fs.StringVar(&c.AccountsFile, "accounts-file", "", "YAML file listing the AWS accounts to act in, each with an IAM role to assume (optional external id) and its Regions; empty: the ambient credentials' account")
	fs.DurationVar(&c.Engine.ReconcileInterval, "policy-reconcile-interval", engine.ReconcileIntervalDefault, "how often ENFORCE replication policies turn drift into operations (negative: never)")
	fs.DurationVar(&c.Engine.PolicyRetryBackoff, "policy-retry-backoff", engine.PolicyRetryBackoffDefault, "how long a policy waits before trying again what one of its operations failed to do")
	fs.DurationVar(&c.Heartbeat, "heartbeat-interval", HeartbeatDefault, "how often processes sharing the database announce themselves; each takes an equal share of the AWS rate budgets")
	fs.DurationVar(&c.Drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long in-flight operations may finish before they are handed back to the queue")
	fs.StringVar(&c.DataKeyFile, "data-key-file", "", "file holding the 32-byte data key (base64) that seals operation parameters (required)")
	fs.Func("data-key-previous-files", "comma-separated files with earlier data keys, still accepted for opening (key rotation); may be repeated",
		listSetter(&c.DataKeyPreviousFiles))
	fs.StringVar(&c.FingerprintKeyFile, "fingerprint-key-file", "", "file holding the key (base64, at least 32 bytes) for fingerprints of sensitive values in logs and audit (required)")
	fs.DurationVar(&c.AuditChainInterval, "audit-chain-interval", audit.ChainIntervalDefault, "how often audit events stored with an accepted request are linked into the hash chain (the audit writer links its own as it inserts them)")
	fs.DurationVar(&c.AuditRetention, "audit-retention", 0, "age after which audit events are exported to --audit-export-dir and removed from the database (0: keep forever)")
	fs.StringVar(&c.AuditExportDir, "audit-export-dir", "audit-export", "directory receiving pruned audit events as JSON lines files, verifiable offline")
	fs.DurationVar(&c.AuditPruneInterval, "audit-prune-interval", time.Hour, "how often audit retention runs")
	fs.StringVar(&c.Tracing.OTLPEndpoint, "otlp-endpoint", "", "OTLP/HTTP endpoint for traces (host:port or URL); empty: tracing off")
	fs.BoolVar(&c.Tracing.Insecure, "otlp-insecure", false, "send traces over plain HTTP")
	fs.Float64Var(&c.Tracing.SampleRatio, "trace-sample-ratio", 1, "fraction of new traces recorded (traces arriving sampled are always continued)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve Go profiling (net/http/pprof) on this loopback address; empty: off")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "server certificate (PEM) for both listeners; reloaded when the file changes")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", "", "server private key (PEM); reloaded when the file changes")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", "", "CA bundle (PEM) for client certificates: enables mutual TLS; the certificate's URI SAN (e.g. SPIFFE id), else DNS SAN, else CN is the principal")
	fs.StringVar(&c.JWKSFile, "jwks-file", "", "JWKS file verifying bearer tokens (JWT); reloaded when it changes")
	fs.StringVar(&c.JWKSURL, "jwks-url", "", "https URL of the JWKS verifying bearer tokens; refreshed periodically")
	fs.DurationVar(&c.JWKSMinRefresh, "jwks-min-refresh", auth.JWKSMinRefreshIntervalDefault, "least time between JWKS fetches caused by tokens naming an unknown key id")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "required iss of bearer tokens")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "required aud of bearer tokens")
	fs.StringVar(&c.JWTPrincipalClaim, "jwt-principal-claim", "sub", "token claim holding the principal")
	fs.StringVar(&c.JWTGroupsClaim, "jwt-groups-claim", "groups", "token claim holding the caller's groups")
	fs.StringVar(&c.PolicyFile, "policy-file", "", "authorization policy (YAML); reloaded on change and on SIGHUP; a broken file is refused and the old policy kept")
	fs.BoolFunc("ui", "serve the web console at /ui/ on --http-addr (default true; --ui=false turns it off)", func(v string) error {
		on, err := strconv.ParseBool(v)
		c.UIOff = !on
		return err
	})
	fs.BoolVar(&c.UIReadOnly, "ui-read-only", false, "read-only web console: mutating actions are hidden, and refused to browsers over REST (PERMISSION_DENIED)")
	fs.StringVar(&c.AuthTokenHeader, "auth-token-header", "", "request header carrying the bearer token when Authorization is absent, as an authenticating proxy forwards it (e.g. X-Forwarded-Access-Token)")
	fs.BoolVar(&c.InsecureDev, "insecure-dev", false, "development only: serve without authentication; refuses non-loopback addresses")
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
}

// LoadKeys reads the key files named by the flags.
func (c *Config) LoadKeys() error {
	if c.DataKeyFile != "" {
		k, err := readKey(c.DataKeyFile)
		if err != nil {
			return err
		}
		c.DataKeys = [][]byte{k}
		for _, f := range c.DataKeyPreviousFiles {
			k, err := readKey(f)
			if err != nil {
				return err
			}
			c.DataKeys = append(c.DataKeys, k)
		}
	}
	if c.FingerprintKeyFile != "" {
		k, err := readKey(c.FingerprintKeyFile)
		if err != nil {
			return err
		}
		c.FingerprintKey = k
	}
	return nil
}

// Validate checks the settings that depend on each other.
func (c *Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url (or DATABASE_URL) is required"))
	}
	if len(c.DataKeys) == 0 || len(c.DataKeys[0]) != seal.KeyLength {
		errs = append(errs, fmt.Errorf("--data-key-file must hold a %d-byte key", seal.KeyLength))
	}
	if len(c.FingerprintKey) < redact.MinKeyLength {
		errs = append(errs, fmt.Errorf("--fingerprint-key-file must hold at least %d bytes", redact.MinKeyLength))
	}
	if c.Engine.Queue.RescueAfter != 0 && c.Engine.Queue.JobTimeout != 0 && c.Engine.Queue.RescueAfter <= c.Engine.Queue.JobTimeout {
		errs = append(errs, errors.New("--rescue-after must exceed --job-timeout"))
	}
	if c.PprofAddr != "" && !loopback(c.PprofAddr) {
		errs = append(errs, fmt.Errorf("--pprof-addr serves only on a loopback address, not %q", c.PprofAddr))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file go together"))
	}
	if c.ClientCAFile != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("--client-ca-file (mutual TLS) needs --tls-cert-file and --tls-key-file"))
	}
	if c.JWKSFile != "" && c.JWKSURL != "" {
		errs = append(errs, errors.New("--jwks-file and --jwks-url are exclusive"))
	}
	if (c.JWKSFile != "" || c.JWKSURL != "") && (c.JWTIssuer == "" || c.JWTAudience == "") {
		errs = append(errs, errors.New("bearer tokens need --jwt-issuer and --jwt-audience"))
	}
	if c.InsecureDev {
		for _, addr := range []string{c.GRPCAddr, c.HTTPAddr} {
			if !loopback(addr) {
				errs = append(errs, fmt.Errorf("--insecure-dev serves only on loopback addresses, not %q", addr))
			}
		}
	} else {
		if c.TLSCertFile == "" {
			errs = append(errs, errors.New("TLS is required (--tls-cert-file, --tls-key-file); for local development pass --insecure-dev"))
		}
		if !c.authenticates() {
			errs = append(errs, errors.New("authentication is required (--client-ca-file for mutual TLS and/or --jwks-file/--jwks-url for bearer tokens); for local development pass --insecure-dev"))
		}
		if c.PolicyFile == "" {
			errs = append(errs, errors.New("an authorization policy is required (--policy-file); for local development pass --insecure-dev"))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) authenticates() bool {
	return c.ClientCAFile != "" || c.JWKSFile != "" || c.JWKSURL != ""
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readKey reads a base64 key file (raw bytes are accepted too).
func readKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if k, err := base64.StdEncoding.DecodeString(s); err == nil {
		return k, nil
	}
	return b, nil
}

// ParseArgs reads the settings from command-line arguments, then REPLICAD_*
// environment variables, then the YAML file named by --config (flag names
// as keys); earlier sources win. DATABASE_URL is read when --database-url
// is not set. Key files are not read: see LoadKeys. usage heads --help.
func ParseArgs(args []string, stderr io.Writer, usage string) (Config, error) {
	fs := flag.NewFlagSet("replicad", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	cfg.RegisterFlags(fs)
	fs.String("config", "", "YAML file with settings (flag names as keys)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix("REPLICAD"),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(ffyaml.Parser),
	)
	if err != nil {
		return cfg, err
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = os.Getenv("DATABASE_URL")
	}
	return cfg, nil
}

// listSetter accumulates a list flag: "a,b", "--f a --f b" and a YAML list
// in --config (which ff applies one item at a time) all mean [a b]. The
// first value set replaces whatever the list held before.
func listSetter(list *[]string) func(string) error {
	set := false
	return func(v string) error {
		if !set {
			*list, set = nil, true
		}
		*list = append(*list, splitList(v)...)
		return nil
	}
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// LogValue renders the effective configuration for the start-up log, with
// durations as text (10s, not 10000000000) and secrets masked: the database password never appears, key files appear
// by path only (their contents are never read into the log).
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("grpc_addr", c.GRPCAddr),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("database_url", maskURL(c.DatabaseURL)),
		slog.Int("db_max_conns", c.DBMaxConns),
		slog.Int("queue_max_conns", c.QueueMaxConns),
		slog.String("default_region", c.DefaultRegion),
		slog.Any("allowed_regions", c.AllowedRegions),
		slog.String("aws_endpoint", maskURL(c.AWS.Endpoint)),
		slog.Float64("aws_write_rate", c.AWS.WriteRate),
		slog.Float64("aws_read_rate", c.AWS.ReadRate),
		slog.Float64("aws_scan_rate", c.AWS.ScanRate),
		slog.Int("aws_max_attempts", c.AWS.MaxAttempts),
		slog.String("aws_max_backoff", c.AWS.MaxBackoff.String()),
		slog.String("aws_timeout", c.AWS.Timeout.String()),
		slog.Int("workers", c.Engine.Queue.Workers),
		slog.String("inventory_interval", c.Inventory.Interval.String()),
		slog.Any("inventory_regions", c.InventoryRegions),
		slog.String("accounts_file", c.AccountsFile),
		slog.Int("accounts", len(c.AWS.Accounts)),
		slog.Bool("api_only", c.Engine.Queue.InsertOnly),
		slog.String("job_timeout", c.Engine.Queue.JobTimeout.String()),
		slog.String("rescue_after", c.Engine.Queue.RescueAfter.String()),
		slog.Int("max_attempts", c.Engine.Queue.MaxAttempts),
		slog.String("replication_deadline", c.Engine.ReplicationDeadline.String()),
		slog.String("retry_for", c.Engine.RetryFor.String()),
		slog.String("drain_timeout", c.Drain.String()),
		slog.String("data_key_file", c.DataKeyFile),
		slog.Int("data_keys_previous", len(c.DataKeyPreviousFiles)),
		slog.String("fingerprint_key_file", c.FingerprintKeyFile),
		slog.String("audit_retention", c.AuditRetention.String()),
		slog.String("audit_chain_interval", c.AuditChainInterval.String()),
		slog.String("audit_export_dir", c.AuditExportDir),
		slog.String("otlp_endpoint", maskURL(c.Tracing.OTLPEndpoint)),
		slog.Float64("trace_sample_ratio", c.Tracing.SampleRatio),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("pprof_addr", c.PprofAddr),
		slog.String("tls_cert_file", c.TLSCertFile),
		slog.String("client_ca_file", c.ClientCAFile),
		slog.String("jwks_file", c.JWKSFile),
		slog.String("jwks_url", maskURL(c.JWKSURL)),
		slog.String("jwt_issuer", c.JWTIssuer),
		slog.String("jwt_audience", c.JWTAudience),
		slog.String("policy_file", c.PolicyFile),
		slog.Bool("insecure_dev", c.InsecureDev),
		slog.Bool("ui", !c.UIOff),
		slog.Bool("ui_read_only", c.UIReadOnly),
		slog.String("auth_token_header", c.AuthTokenHeader),
		slog.String("log_level", c.LogLevel.String()),
	)
}

// maskURL hides a URL's password (and any query, which may carry one).
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if raw == "" {
			return ""
		}
		return "(unparsable, hidden)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		u.RawQuery = "(hidden)"
	}
	return u.String()
}
