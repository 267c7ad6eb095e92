package standin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AccountIDDefault is the account in every ARN unless Options.AccountID
// says otherwise; it is the account AWS's documentation examples use.
const AccountIDDefault = "123456789012"

// ReplicationDelayDefault is Options.ReplicationDelay's default: replicas
// are reported InProgress in the ReplicateSecretToRegions answer and InSync
// from the next read on.
const ReplicationDelayDefault time.Duration = 0

// maxBodyBytes bounds a request body. SecretBinary may hold 64 KiB, which is
// about 88 KiB once base64-encoded in JSON.
const maxBodyBytes = 1 << 20

// Options configure a Server. The zero value is usable.
type Options struct {
	// AccountID is the account in every ARN. Default AccountIDDefault.
	AccountID string
	// ReplicationDelay is how long a new replica stays InProgress before it
	// is InSync. The ReplicateSecretToRegions (or CreateSecret) answer always
	// shows a new replica InProgress, as AWS's examples do; with a delay of 0
	// every later read shows it InSync. The replica secret itself exists in
	// its Region from the start. Default ReplicationDelayDefault (0).
	ReplicationDelay time.Duration
	// Faults are injected from the start; see SetFaults. Default none.
	Faults Faults
	// Logger receives a Debug record per API request and Info records for
	// admin changes. Default: records are discarded.
	Logger *slog.Logger
	// RoleExternalIDs lists roles whose AssumeRole requires an external
	// id (sts.go); any other role may be assumed without one.
	RoleExternalIDs map[string]string
	// Received, if set, is called with the request's context for every
	// Secrets Manager API request as the service receives it: past the
	// network (Faults.Latency) and a Region's outage, where Stats counts
	// it, before the budget, the random faults or the action. A request
	// whose client went away during the latency never reached the service
	// and is not received. A test wrapping the stand-in counts with it what
	// AWS was sent, not what was on the wire. It must be quick and safe for
	// concurrent use.
	Received func(ctx context.Context, api, region string)
}

// Server is the in-memory Secrets Manager. It is an http.Handler: serve it
// with httptest.NewServer in tests or with Serve on a listener. All methods
// are safe for concurrent use.
type Server struct {
	account string
	delay   time.Duration // guarded by mu
	logger  *slog.Logger
	ops     map[string]operation

	mu sync.Mutex // guards states
	// states holds each account's secrets. A request belongs to the
	// account its access key was issued for by AssumeRole, else to the
	// default account.
	states map[string]*state
	// kms holds each (account, Region)'s KMS keys and aliases (kms.go).
	kms map[kmsPlace]*kmsRegion

	faultsMu sync.RWMutex // guards faults
	faults   Faults

	meter    *meter
	received func(ctx context.Context, api, region string)

	roleExternalIDs map[string]string
	// issuedKeys maps each access key AssumeRole issued to its account
	// (guarded by mu).
	issuedKeys        map[string]string
	assumeRoleCalls   atomic.Int64
	assumeRoleRefused atomic.Int64
}

// New returns a Server configured by opts.
func New(opts Options) (*Server, error) {
	if err := opts.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("standin: faults: %w", err)
	}
	if opts.ReplicationDelay < 0 {
		return nil, fmt.Errorf("standin: replication delay %v is negative", opts.ReplicationDelay)
	}
	account := opts.AccountID
	if account == "" {
		account = AccountIDDefault
	}
	if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return nil, fmt.Errorf("standin: account id %q is not 12 digits", account)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		account:  account,
		delay:    opts.ReplicationDelay,
		logger:   logger,
		states:   map[string]*state{},
		kms:      map[kmsPlace]*kmsRegion{},
		faults:   opts.Faults.clone(),
		meter:    newMeter(),
		received: opts.Received,

		roleExternalIDs: maps.Clone(opts.RoleExternalIDs),
		issuedKeys:      map[string]string{},
	}
	s.ops = s.operations()
	return s, nil
}

type accountCtxKey struct{}

// withAccount says which account a request is for.
func withAccount(ctx context.Context, account string) context.Context {
	return context.WithValue(ctx, accountCtxKey{}, account)
}

// stateOf returns the secrets of the request's account. Caller holds s.mu.
func (s *Server) stateOf(ctx context.Context) *state {
	account, _ := ctx.Value(accountCtxKey{}).(string)
	if account == "" {
		account = s.account
	}
	return s.accountState(account)
}

// accountState returns one account's secrets, created on first use.
// Caller holds s.mu.
func (s *Server) accountState(account string) *state {
	st := s.states[account]
	if st == nil {
		st = newState(account)
		s.states[account] = st
	}
	return st
}

// Account is the default account: the one every request belongs to unless
// it is signed with credentials AssumeRole issued for another.
func (s *Server) Account() string { return s.account }

// Faults returns the faults currently injected.
func (s *Server) Faults() Faults {
	return s.currentFaults().clone()
}

// currentFaults is Faults without the copy, for the request path: the
// slices it holds are never written after they are stored.
func (s *Server) currentFaults() Faults {
	s.faultsMu.RLock()
	defer s.faultsMu.RUnlock()
	return s.faults
}

// SetFaults replaces the faults injected from now on. Requests already past
// the fault checks are not affected.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("standin: faults: %w", err)
	}
	f = f.clone()
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.faults = f
	return nil
}

// patchFaults applies an admin change under the lock, so two concurrent
// partial updates cannot lose each other's fields.
func (s *Server) patchFaults(p faultsPatch) (Faults, error) {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	f, err := p.apply(s.faults)
	if err != nil {
		return s.faults, err
	}
	s.faults = f
	return f, nil
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	st := s.meter.snapshot()
	st.AssumeRole, st.AssumeRoleRefused = s.assumeRoleCalls.Load(), s.assumeRoleRefused.Load()
	return st
}

// Reset deletes every secret and KMS key in every Region and clears the counters. Faults
// are configuration, not state, and are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	s.states = map[string]*state{}
	s.kms = map[kmsPlace]*kmsRegion{}
	s.mu.Unlock()
	s.meter.reset()
}

// EndReplicationDelay ends the replication delay: every replica still
// InProgress is InSync now, as if the delay had passed, and replicas added
// from now on are InSync at once. It returns how many it finished. A test
// that must see replicas InProgress for as long as it takes to look sets a
// long delay and ends it with this, rather than betting that a given delay
// outlasts its own steps on a loaded machine.
func (s *Server) EndReplicationDelay() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = 0
	now, n := time.Now(), 0
	for _, st := range s.states {
		for _, secrets := range st.regions {
			for _, sec := range secrets {
				for _, r := range sec.replicas {
					if r.failed == "" && now.Before(r.readyAt) {
						r.readyAt = now
						n++
					}
				}
			}
		}
	}
	return n
}

// Serve answers on ln until ctx is done, then shuts down gracefully, letting
// requests in flight finish for up to 10 seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("standin: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("standin: shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("standin: serve: %w", err)
	}
	return nil
}

// ServeHTTP answers the Secrets Manager JSON 1.1 protocol on POST / and the
// admin endpoints under /_standin/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every AWS answer carries a request id; the SDK reads it from this
	// header for ResultMetadata and for errors.
	w.Header().Set("X-Amzn-Requestid", newVersionID())
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.serveAdmin(w, r)
		return
	}
	if isSTSRequest(r) {
		s.serveSTS(w, r)
		return
	}
	if isKMSRequest(r) {
		s.serveKMS(w, r)
		return
	}
	s.serveAPI(w, r.WithContext(withAccount(r.Context(), s.accountOfRequest(r))))
}

// operation is one API action: which budget it is under and how to run it.
type operation struct {
	class opClass
	call  func(ctx context.Context, region string, body []byte) (any, *apiError)
}

// handle adapts a typed action to an operation, decoding its input the way
// AWS does: unknown fields are ignored, an empty body is an empty object.
func handle[In any](class opClass, fn func(ctx context.Context, region string, in *In) (any, *apiError)) operation {
	return operation{class: class, call: func(ctx context.Context, region string, body []byte) (any, *apiError) {
		var in In
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				return nil, errSerialization(err.Error())
			}
		}
		return fn(ctx, region, &in)
	}}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	start := time.Now()
	region, aerr := regionFromAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		s.meter.unauthenticatedRequest()
		s.writeError(w, aerr)
		return
	}
	name, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	op, known := s.ops[name]
	if r.Method != http.MethodPost || r.URL.Path != "/" || !known {
		// Unknown names would grow the counters without bound; they share
		// one entry.
		s.meter.admit(region, "Unknown", classNone, 0)
		s.meter.finish(region, "Unknown", outcomeClientError)
		s.writeError(w, errUnknownOperation())
		return
	}

	out, aerr, o := s.run(ctx, r, region, name, op)
	s.meter.finish(region, name, o)
	if aerr != nil {
		s.writeError(w, aerr)
	} else {
		s.writeJSON(w, http.StatusOK, out)
	}
	if s.logger.Enabled(ctx, slog.LevelDebug) {
		code := ""
		if aerr != nil {
			code = aerr.code
		}
		s.logger.DebugContext(ctx, "request", "op", name, "region", region, "error", code,
			"requestId", w.Header().Get("X-Amzn-Requestid"), "duration", time.Since(start).String())
	}
}

// run applies the faults, then the operation. The order matters: latency
// first (it models the network), then the budget (so its counters see every
// request that reached the service), then the random faults, which refuse a
// request before it changes anything.
func (s *Server) run(ctx context.Context, r *http.Request, region, name string, op operation) (any, *apiError, outcome) {
	f := s.currentFaults()
	if f.regionDown(region) {
		// Before latency and the meter: a Region that is down never saw
		// the request.
		return nil, errRegionDown(), outcomeServerError
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, errInternal(), outcomeServerError
		}
	}
	if s.received != nil {
		s.received(ctx, name, region)
	}
	budget := 0
	switch op.class {
	case classWrite:
		budget = f.WriteBudget
	case classRead:
		budget = f.ReadBudget
	}
	if !s.meter.admit(region, name, op.class, budget) {
		return nil, errThrottled(), outcomeBudgetThrottle
	}
	if roll(f.ThrottleRate) {
		return nil, errThrottled(), outcomeRandomThrottle
	}
	if roll(f.ErrorRate) || f.apiFailing(name) {
		return nil, errInternal(), outcomeServerError
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return nil, errSerialization("could not read the request body"), outcomeClientError
	}
	out, aerr := op.call(ctx, region, body)
	if op.class == classWrite && f.WriteAnswerDelay > 0 {
		// Applied; the answer waits (see Faults.WriteAnswerDelay).
		t := time.NewTimer(f.WriteAnswerDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	switch {
	case aerr == nil:
		return out, nil, outcomeOK
	case aerr.status >= 500:
		return nil, aerr, outcomeServerError
	default:
		return nil, aerr, outcomeClientError
	}
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	// The SDK takes the code from X-Amzn-ErrorType when present and from
	// "__type" otherwise; AWS sends both.
	w.Header().Set("X-Amzn-Errortype", e.code)
	body := struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{e.code, e.message}
	s.writeJSON(w, e.status, body)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error can get here: every response type
		// marshals.
		s.logger.Error("encode response", "error", err)
		status, b = http.StatusInternalServerError, []byte(`{"__type":"InternalServiceError"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
