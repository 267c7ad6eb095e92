package replictl

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// mutationFlags are what Replicate, Remove and Promote share.
type mutationFlags struct {
	requestID string
	reason    string
	rawLabels labelFlag
	labels    map[string]string
	wait      bool
	// generated is true when requestID was made up here, not given.
	generated bool
}

func (m *mutationFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.requestID, "request-id", "", "idempotency key (default: a new random UUID, printed so a retry can reuse it)")
	fs.StringVar(&m.reason, "reason", "", "change justification, recorded only as a fingerprint")
	fs.Var(&m.rawLabels, "label", "`KEY=VALUE` label for the operation (repeatable); values are recorded only as fingerprints")
	fs.BoolVar(&m.wait, "wait", false, "follow the operation until it ends, showing each Region's progress")
}

// parseMutation reads a mutating command's line: one SECRET, then the
// checks on the shared flags the flag package could not make.
func (c *cli) parseMutation(fs *flag.FlagSet, args []string, m *mutationFlags) (string, error) {
	pos, err := c.parse(fs, args, 1, "one SECRET")
	if err != nil {
		return "", err
	}
	m.labels, err = m.rawLabels.labels()
	return pos[0], err
}

func (m *mutationFlags) id() string {
	if m.requestID == "" {
		m.requestID, m.generated = uuid.NewString(), true
	}
	return m.requestID
}

func (c *cli) replicate(ctx context.Context, args []string) error {
	fs := c.flagSet("replicate", "replicate SECRET --region REGION[:KMS_KEY]... [flags]")
	var regions replicaFlag
	fs.Var(&regions, "region", "replica `REGION` or REGION:KMS_KEY, e.g. us-east-1:alias/replica-key (repeatable)")
	force := fs.Bool("force-overwrite", false, "overwrite a secret of the same name in a destination Region (ForceOverwriteReplicaSecret)")
	replaceKey := fs.Bool("replace-kms-key", false, "remove and re-add a replica that exists under another KMS key (without it, that fails the operation)")
	var m mutationFlags
	m.register(fs)
	secret, err := c.parseMutation(fs, args, &m)
	if err != nil {
		return err
	}
	if len(regions.regions) == 0 {
		return usageErrorf("replicate: give at least one --region")
	}
	req := &replicadv1.ReplicateRequest{
		SecretId: secret, Regions: regions.regions, ForceOverwriteReplicaSecret: *force, ReplaceKmsKey: *replaceKey,
		RequestId: m.id(), Reason: m.reason, Labels: m.labels,
	}
	return c.mutate(ctx, "replicate", &m, func(ctx context.Context, cl *clients) (*replicadv1.Operation, error) {
		resp, err := cl.replication.Replicate(ctx, req)
		return resp.GetOperation(), err
	})
}

func (c *cli) remove(ctx context.Context, args []string) error {
	fs := c.flagSet("remove", "remove SECRET --region REGION... [flags]")
	var regions stringsFlag
	fs.Var(&regions, "region", "replica `REGION` to remove (repeatable)")
	var m mutationFlags
	m.register(fs)
	secret, err := c.parseMutation(fs, args, &m)
	if err != nil {
		return err
	}
	if len(regions) == 0 {
		return usageErrorf("remove: give at least one --region")
	}
	req := &replicadv1.RemoveRequest{SecretId: secret, Regions: regions, RequestId: m.id(), Reason: m.reason, Labels: m.labels}
	return c.mutate(ctx, "remove", &m, func(ctx context.Context, cl *clients) (*replicadv1.Operation, error) {
		resp, err := cl.replication.Remove(ctx, req)
		return resp.GetOperation(), err
	})
}

func (c *cli) promote(ctx context.Context, args []string) error {
	fs := c.flagSet("promote", "promote SECRET --region REGION [flags]")
	region := fs.String("region", "", "the replica's `REGION`: it becomes a standalone secret there")
	force := fs.Bool("force", false, "promote even if the replica is not InSync")
	var m mutationFlags
	m.register(fs)
	secret, err := c.parseMutation(fs, args, &m)
	if err != nil {
		return err
	}
	if *region == "" {
		return usageErrorf("promote: give the replica's --region")
	}
	req := &replicadv1.PromoteRequest{SecretId: secret, Region: *region, Force: *force, RequestId: m.id(), Reason: m.reason, Labels: m.labels}
	return c.mutate(ctx, "promote", &m, func(ctx context.Context, cl *clients) (*replicadv1.Operation, error) {
		resp, err := cl.replication.Promote(ctx, req)
		return resp.GetOperation(), err
	})
}

// mutate sends a mutating request, then reports the accepted operation or
// follows it to its end.
func (c *cli) mutate(ctx context.Context, what string, m *mutationFlags, send func(context.Context, *clients) (*replicadv1.Operation, error)) error {
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.close()
	op, err := call(ctx, c, cl, what, func(ctx context.Context) (*replicadv1.Operation, error) { return send(ctx, cl) })
	if err != nil {
		if m.generated {
			// The request may have been accepted before the answer was
			// lost: the same request id makes a retry safe.
			fmt.Fprintf(c.io.Stderr, "request id %s: retry with --request-id %s\n", m.requestID, m.requestID)
		}
		return err
	}
	if m.wait {
		if c.output == "text" && m.generated {
			fmt.Fprintf(c.io.Stderr, "request id %s\n", m.requestID)
		}
		return c.follow(ctx, cl, op)
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, op)
	}
	fmt.Fprintf(c.io.Stdout, "operation %s accepted: %s %s, %s\n", op.GetId(), kindName(op.GetKind()), op.GetSecretId(), stateName(op.GetState()))
	fmt.Fprintf(c.io.Stdout, "request id %s (reuse it with --request-id to retry safely)\n", m.requestID)
	fmt.Fprintf(c.io.Stdout, "follow it: replictl operations get %s --wait\n", op.GetId())
	return nil
}

func (c *cli) status(ctx context.Context, args []string) error {
	fs := c.flagSet("status", "status SECRET [flags]")
	recent := fs.Int("recent", 5, "how many of the secret's recent operations to show (0-50)")
	pos, cl, err := c.connect(fs, args, 1, "one SECRET")
	if err != nil {
		return err
	}
	defer cl.close()
	resp, err := call(ctx, c, cl, "status", func(ctx context.Context) (*replicadv1.StatusResponse, error) {
		return cl.replication.Status(ctx, &replicadv1.StatusRequest{SecretId: pos[0], RecentOperations: int32(*recent)})
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, resp)
	}
	return writeStatus(c.io.Stdout, resp)
}

func (c *cli) operations(ctx context.Context, args []string) error {
	return c.subcommands(ctx, "operations", args, map[string]commandFunc{
		"list":    c.operationsList,
		"get":     c.operationsGet,
		"cancel":  c.operationsCancel,
		"approve": c.operationsApprove,
	})
}

func (c *cli) operationsList(ctx context.Context, args []string) error {
	fs := c.flagSet("operations list", "operations list [--secret SECRET] [--state STATE] [--limit N]")
	secret := fs.String("secret", "", "only this secret's operations")
	stateFlag := fs.String("state", "", "only operations in this `STATE`: pending, running, succeeded, failed, cancelled, awaiting_approval")
	limit := fs.Int("limit", 50, "show at most N operations, newest first (0: all)")
	token := fs.String("page-token", "", "continue a listing from this token (printed when more remain)")
	if _, err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	state, err := parseState(*stateFlag)
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usageErrorf("--limit %d: want 0 or more", *limit)
	}
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.close()
	var ops []*replicadv1.Operation
	next := *token
	for {
		pageSize := 100
		if *limit > 0 {
			pageSize = min(pageSize, *limit-len(ops))
		}
		resp, err := call(ctx, c, cl, "list operations", func(ctx context.Context) (*replicadv1.ListOperationsResponse, error) {
			return cl.replication.ListOperations(ctx, &replicadv1.ListOperationsRequest{
				SecretId: *secret, State: state, PageSize: int32(pageSize), PageToken: next,
			})
		})
		if err != nil {
			return err
		}
		ops = append(ops, resp.GetOperations()...)
		next = resp.GetNextPageToken()
		if next == "" || (*limit > 0 && len(ops) >= *limit) {
			break
		}
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, &replicadv1.ListOperationsResponse{Operations: ops, NextPageToken: next})
	}
	writeOperationTable(c.io.Stdout, ops)
	if next != "" {
		fmt.Fprintf(c.io.Stderr, "more operations: add --page-token %s\n", next)
	}
	return nil
}

func (c *cli) operationsGet(ctx context.Context, args []string) error {
	fs := c.flagSet("operations get", "operations get ID [--wait]")
	wait := fs.Bool("wait", false, "follow the operation until it ends")
	pos, cl, err := c.connect(fs, args, 1, "one operation ID")
	if err != nil {
		return err
	}
	defer cl.close()
	op, err := c.getOperation(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	if *wait {
		return c.follow(ctx, cl, op)
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, op)
	}
	writeOperation(c.io.Stdout, op)
	return nil
}

func (c *cli) getOperation(ctx context.Context, cl *clients, id string) (*replicadv1.Operation, error) {
	return call(ctx, c, cl, "get operation", func(ctx context.Context) (*replicadv1.Operation, error) {
		resp, err := cl.replication.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id})
		return resp.GetOperation(), err
	})
}

func (c *cli) operationsCancel(ctx context.Context, args []string) error {
	fs := c.flagSet("operations cancel", "operations cancel ID [--reason TEXT]")
	reason := fs.String("reason", "", "why, recorded only as a fingerprint")
	pos, cl, err := c.connect(fs, args, 1, "one operation ID")
	if err != nil {
		return err
	}
	defer cl.close()
	op, err := call(ctx, c, cl, "cancel operation", func(ctx context.Context) (*replicadv1.Operation, error) {
		resp, err := cl.replication.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: pos[0], Reason: *reason})
		return resp.GetOperation(), err
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, op)
	}
	fmt.Fprintf(c.io.Stdout, "operation %s %s\n", op.GetId(), stateName(op.GetState()))
	return nil
}

// operationsApprove is the second person of a two-person approval: it
// releases an operation AWAITING_APPROVAL that somebody else requested.
func (c *cli) operationsApprove(ctx context.Context, args []string) error {
	fs := c.flagSet("operations approve", "operations approve ID [--reason TEXT]")
	reason := fs.String("reason", "", "why, recorded only as a fingerprint")
	pos, cl, err := c.connect(fs, args, 1, "one operation ID")
	if err != nil {
		return err
	}
	defer cl.close()
	op, err := call(ctx, c, cl, "approve operation", func(ctx context.Context) (*replicadv1.Operation, error) {
		resp, err := cl.replication.ApproveOperation(ctx, &replicadv1.ApproveOperationRequest{Id: pos[0], Reason: *reason})
		return resp.GetOperation(), err
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, op)
	}
	fmt.Fprintf(c.io.Stdout, "operation %s approved: %s\n", op.GetId(), stateName(op.GetState()))
	return nil
}

func (c *cli) audit(ctx context.Context, args []string) error {
	return c.subcommands(ctx, "audit", args, map[string]commandFunc{
		"list":   c.auditList,
		"verify": c.auditVerify,
	})
}

func (c *cli) auditList(ctx context.Context, args []string) error {
	fs := c.flagSet("audit list", "audit list [filters]")
	since := fs.String("since", "", "only events at or after this time: RFC 3339, or a duration ago such as 1h")
	until := fs.String("until", "", "only events before this time: RFC 3339, or a duration ago")
	principal := fs.String("principal", "", "only this caller's events")
	secret := fs.String("secret", "", "only events about this secret")
	method := fs.String("method", "", "only this RPC (Replicate) or AWS API (ReplicateSecretToRegions)")
	outcome := fs.String("outcome", "", "only this outcome: OK or a code such as PERMISSION_DENIED")
	operation := fs.String("operation", "", "only this operation's events")
	limit := fs.Int("limit", 50, "show at most N events, newest first")
	if _, err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	now := time.Now()
	start, err := parseWhen("--since", *since, now)
	if err != nil {
		return err
	}
	end, err := parseWhen("--until", *until, now)
	if err != nil {
		return err
	}
	if *limit <= 0 {
		return usageErrorf("--limit %d: want 1 or more", *limit)
	}
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.close()
	var events []*replicadv1.AuditEvent
	next := ""
	for len(events) < *limit {
		resp, err := call(ctx, c, cl, "list audit events", func(ctx context.Context) (*replicadv1.ListAuditEventsResponse, error) {
			return cl.audit.ListAuditEvents(ctx, &replicadv1.ListAuditEventsRequest{
				StartTime: start, EndTime: end, Principal: *principal, SecretId: *secret,
				Method: *method, Outcome: *outcome, OperationId: *operation,
				PageSize: int32(min(1000, *limit-len(events))), PageToken: next,
			})
		})
		if err != nil {
			return err
		}
		events = append(events, resp.GetEvents()...)
		if next = resp.GetNextPageToken(); next == "" {
			break
		}
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, &replicadv1.ListAuditEventsResponse{Events: events, NextPageToken: next})
	}
	writeAuditTable(c.io.Stdout, events)
	return nil
}

func (c *cli) auditVerify(ctx context.Context, args []string) error {
	fs := c.flagSet("audit verify", "audit verify [--known-position N --known-hash HEX]")
	knownPos := fs.Int64("known-position", 0, "a chain position recorded earlier (with --known-hash): detects truncation after it")
	knownHash := fs.String("known-hash", "", "the hash recorded for --known-position")
	_, cl, err := c.connect(fs, args, 0, "")
	if err != nil {
		return err
	}
	defer cl.close()
	resp, err := call(ctx, c, cl, "verify audit", func(ctx context.Context) (*replicadv1.VerifyAuditResponse, error) {
		return cl.audit.VerifyAudit(ctx, &replicadv1.VerifyAuditRequest{KnownPosition: *knownPos, KnownHash: *knownHash})
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		if err := writeJSON(c.io.Stdout, resp); err != nil {
			return err
		}
	} else {
		writeVerify(c.io.Stdout, resp)
	}
	if !resp.GetOk() {
		b := resp.GetFirstBreak()
		return &brokenChainError{reason: fmt.Sprintf("at position %d (event %s): %s", b.GetPosition(), b.GetEventId(), b.GetReason())}
	}
	return nil
}

func parseState(s string) (replicadv1.OperationState, error) {
	if s == "" {
		return replicadv1.OperationState_OPERATION_STATE_UNSPECIFIED, nil
	}
	v, ok := replicadv1.OperationState_value["OPERATION_STATE_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, usageErrorf("--state %q: want pending, running, succeeded, failed, cancelled or awaiting_approval", s)
	}
	return replicadv1.OperationState(v), nil
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(flagName, s string, now time.Time) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return nil, usageErrorf("%s %q: want a positive duration", flagName, s)
		}
		return timestamppb.New(now.Add(-d)), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, usageErrorf("%s %q: want RFC 3339 (2026-11-25T10:00:00Z) or a duration (1h)", flagName, s)
	}
	return timestamppb.New(t), nil
}
