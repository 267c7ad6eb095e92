package replictl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// errNotConfirmed: the plan was shown and not confirmed.
var errNotConfirmed = errors.New("not confirmed: nothing was changed")

// dr is the disaster recovery command group.
func (c *cli) dr(ctx context.Context, args []string) error {
	return c.subcommands(ctx, "dr", args, map[string]commandFunc{
		"readiness": c.drReadiness,
		"failover":  c.drFailover,
		"failback":  c.drFailback,
	})
}

func (c *cli) drReadiness(ctx context.Context, args []string) error {
	fs := c.flagSet("dr readiness", "dr readiness --from REGION --to REGION")
	from := fs.String("from", "", "the `REGION` that may be lost: secrets whose primary is there")
	to := fs.String("to", "", "the `REGION` that would take over")
	_, cl, err := c.connect(fs, args, 0, "")
	if err != nil {
		return err
	}
	defer cl.close()
	if *from == "" || *to == "" {
		return usageErrorf("dr readiness: give --from and --to")
	}
	resp, err := call(ctx, c, cl, "readiness", func(ctx context.Context) (*replicadv1.GetRegionReadinessResponse, error) {
		return cl.dr.GetRegionReadiness(ctx, &replicadv1.GetRegionReadinessRequest{Region: *from, Target: *to})
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, resp)
	}
	pct := 0.0
	if resp.GetTotal() > 0 {
		pct = 100 * float64(resp.GetReady()) / float64(resp.GetTotal())
	}
	fmt.Fprintf(c.io.Stdout, "%d of %d secrets with primary in %s are ready for %s (%.1f%%)\n", resp.GetReady(), resp.GetTotal(), *from, *to, pct)
	if len(resp.GetNotInSync()) > 0 {
		fmt.Fprintf(c.io.Stdout, "\nreplica in %s not InSync (%d):\n", *to, len(resp.GetNotInSync()))
		for _, s := range resp.GetNotInSync() {
			fmt.Fprintf(c.io.Stdout, "  %s  %s  %s\n", printable(s.GetSecretId()), awsStatus(s.GetStatus()), printable(dash(s.GetMessage())))
		}
	}
	if len(resp.GetNoReplica()) > 0 {
		fmt.Fprintf(c.io.Stdout, "\nno replica in %s (%d):\n", *to, len(resp.GetNoReplica()))
		for _, s := range resp.GetNoReplica() {
			fmt.Fprintf(c.io.Stdout, "  %s\n", printable(s.GetSecretId()))
		}
	}
	if len(resp.GetKmsKeyUnusable()) > 0 {
		fmt.Fprintf(c.io.Stdout, "\nreplica's KMS key unusable in %s (%d):\n", *to, len(resp.GetKmsKeyUnusable()))
		for _, s := range resp.GetKmsKeyUnusable() {
			fmt.Fprintf(c.io.Stdout, "  %s  %s  %s\n", printable(s.GetSecretId()), printable(s.GetKmsKeyState()), printable(dash(s.GetMessage())))
		}
	}
	return nil
}

func (c *cli) drFailover(ctx context.Context, args []string) error {
	fs := c.flagSet("dr failover", "dr failover --from REGION --to REGION [--secret SECRET] [--name GLOB]... [--tag K=V]... [flags]")
	from := fs.String("from", "", "the `REGION` being left: secrets whose primary is there")
	to := fs.String("to", "", "the `REGION` whose replicas become the primaries")
	secret := fs.String("secret", "", "fail over this one `SECRET` only")
	var globs, tags stringsFlag
	fs.Var(&globs, "name", "keep secrets whose name matches this `GLOB` (* and ?; repeatable)")
	fs.Var(&tags, "tag", "keep secrets with this tag, `KEY=VALUE` or KEY for any value (repeatable)")
	force := fs.Bool("force", false, "also promote replicas that are not InSync (they may be stale)")
	yes := fs.Bool("yes", false, "run the plan without asking (the plan is still printed)")
	planOnly := fs.Bool("plan", false, "print the plan and stop")
	var m mutationFlags
	m.register(fs)
	_, cl, err := c.connect(fs, args, 0, "")
	if err != nil {
		return err
	}
	defer cl.close()
	if *from == "" || *to == "" {
		return usageErrorf("dr failover: give --from and --to")
	}
	req := &replicadv1.FailoverRequest{SourceRegion: *from, TargetRegion: *to, SecretId: *secret, NameGlobs: globs,
		Force: *force, Reason: m.reason, ValidateOnly: true}
	if len(tags) > 0 {
		req.Tags = map[string]string{}
		for _, t := range tags {
			k, v, _ := strings.Cut(t, "=")
			req.Tags[k] = v
		}
	}
	// Nothing runs before its plan was shown.
	planned, err := call(ctx, c, cl, "failover plan", func(ctx context.Context) (*replicadv1.FailoverResponse, error) {
		return cl.dr.Failover(ctx, req)
	})
	if err != nil {
		return err
	}
	if c.output == "json" && (*planOnly || !*yes) {
		if err := writeJSON(c.io.Stdout, planned.GetPlan()); err != nil {
			return err
		}
	} else {
		writeDRPlan(c.io.Stdout, "Failover", planned.GetPlan())
	}
	if *planOnly {
		return nil
	}
	if err := c.confirm(*yes, "failover"); err != nil {
		return err
	}
	req.ValidateOnly, req.RequestId = false, m.id()
	resp, err := call(ctx, c, cl, "failover", func(ctx context.Context) (*replicadv1.FailoverResponse, error) {
		return cl.dr.Failover(ctx, req)
	})
	if err != nil {
		if m.generated {
			fmt.Fprintf(c.io.Stderr, "request id %s: retry with --request-id %s\n", m.requestID, m.requestID)
		}
		return err
	}
	op := resp.GetOperation()
	if !m.wait {
		if c.output == "json" {
			return writeJSON(c.io.Stdout, op)
		}
		fmt.Fprintf(c.io.Stdout, "operation %s %s\n", op.GetId(), stateName(op.GetState()))
		return nil
	}
	return c.followFailover(ctx, cl, op)
}

// followFailover prints the totals whenever they change, then each
// secret that did not fail over.
func (c *cli) followFailover(ctx context.Context, cl *clients, op *replicadv1.Operation) error {
	last := ""
	for {
		line := fmt.Sprintf("%s  %s", op.GetId(), stateName(op.GetState()))
		if d := op.GetDisasterRecovery(); d != nil {
			line += fmt.Sprintf("  succeeded %d  failed %d  remaining %d  skipped %d  (of %d)",
				d.GetSucceeded(), d.GetFailed(), d.GetRemaining(), d.GetSkipped(), d.GetTotal())
		}
		if line != last && c.output == "text" {
			fmt.Fprintln(c.io.Stdout, line)
			last = line
		}
		if terminal(op.GetState()) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for operation %s (it carries on): %w", op.GetId(), ctx.Err())
		case <-time.After(c.io.PollInterval):
		}
		got, err := c.getOperation(ctx, cl, op.GetId())
		if err != nil {
			return err
		}
		op = got
	}
	if c.output == "json" {
		if err := writeJSON(c.io.Stdout, op); err != nil {
			return err
		}
	} else {
		for _, s := range op.GetDisasterRecovery().GetSecrets() {
			if s.GetSkipReason() == "" && s.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
				fmt.Fprintf(c.io.Stdout, "  %s  %s  %s\n", printable(s.GetSecretId()), stateName(s.GetState()), printable(dash(s.GetError())))
			}
		}
	}
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		return &operationEndedError{op: op}
	}
	return nil
}

// writeDRPlan prints a failover's or failback's plan (what names it).
func writeDRPlan(w io.Writer, what string, p *replicadv1.DisasterRecoveryProgress) {
	eta := ""
	if d := p.GetEstimatedDuration(); d != nil {
		eta = fmt.Sprintf(", about %s at the write budget", d.AsDuration().Round(100*time.Millisecond))
	}
	fmt.Fprintf(w, "%s plan %s -> %s: %d secrets, %d planned, %d skipped, %d AWS writes%s\n",
		what, p.GetSourceRegion(), p.GetTargetRegion(), p.GetTotal(), p.GetTotal()-p.GetSkipped(), p.GetSkipped(), p.GetPlannedWrites(), eta)
	for _, s := range p.GetSecrets() {
		if s.GetSkipReason() != "" {
			fmt.Fprintf(w, "  skip %s: %s\n", printable(s.GetSecretId()), s.GetSkipReason())
			continue
		}
		fmt.Fprintf(w, "  %s\n", printable(s.GetSecretId()))
		for _, st := range s.GetSteps() {
			targets := ""
			if len(st.GetTargetRegions()) > 0 {
				targets = " -> " + strings.Join(st.GetTargetRegions(), ",") + " (overwrite)"
			}
			fmt.Fprintf(w, "    %s in %s%s\n", st.GetApi(), st.GetRegion(), targets)
		}
	}
}

func (c *cli) drFailback(ctx context.Context, args []string) error {
	fs := c.flagSet("dr failback", "dr failback FAILOVER_ID [--move-primary-back] [--force] [--plan|--yes] [--wait]")
	force := fs.Bool("force", false, "also overwrite old primaries that changed after the failover")
	moveBack := fs.Bool("move-primary-back", false, "make the returned Region primary again (default: the current primary stays, replicated over it)")
	yes := fs.Bool("yes", false, "run the plan without asking (the plan is still printed)")
	planOnly := fs.Bool("plan", false, "print the plan and stop")
	var m mutationFlags
	m.register(fs)
	pos, cl, err := c.connect(fs, args, 1, "the FAILOVER_ID")
	if err != nil {
		return err
	}
	defer cl.close()
	req := &replicadv1.FailbackRequest{FailoverId: pos[0], Force: *force, Reason: m.reason, ValidateOnly: true}
	if *moveBack {
		req.Mode = replicadv1.FailbackMode_FAILBACK_MODE_MOVE_PRIMARY_BACK
	}
	planned, err := call(ctx, c, cl, "failback plan", func(ctx context.Context) (*replicadv1.FailbackResponse, error) {
		return cl.dr.Failback(ctx, req)
	})
	if err != nil {
		return err
	}
	if c.output == "json" && (*planOnly || !*yes) {
		if err := writeJSON(c.io.Stdout, planned.GetPlan()); err != nil {
			return err
		}
	} else {
		writeDRPlan(c.io.Stdout, "Failback", planned.GetPlan())
	}
	if *planOnly {
		return nil
	}
	if err := c.confirm(*yes, "failback"); err != nil {
		return err
	}
	req.ValidateOnly, req.RequestId = false, m.id()
	resp, err := call(ctx, c, cl, "failback", func(ctx context.Context) (*replicadv1.FailbackResponse, error) {
		return cl.dr.Failback(ctx, req)
	})
	if err != nil {
		if m.generated {
			fmt.Fprintf(c.io.Stderr, "request id %s: retry with --request-id %s\n", m.requestID, m.requestID)
		}
		return err
	}
	op := resp.GetOperation()
	if !m.wait {
		if c.output == "json" {
			return writeJSON(c.io.Stdout, op)
		}
		fmt.Fprintf(c.io.Stdout, "operation %s %s\n", op.GetId(), stateName(op.GetState()))
		return nil
	}
	return c.followFailover(ctx, cl, op)
}

// confirm asks for a typed yes on a terminal, unless yes was given.
func (c *cli) confirm(yes bool, what string) error {
	if yes {
		return nil
	}
	if !c.io.Terminal || c.io.Stdin == nil {
		return usageErrorf("dr %s: not a terminal: review the plan, then run again with --yes", what)
	}
	fmt.Fprintf(c.io.Stdout, "Run this %s? Type yes to go on: ", what)
	line, _ := bufio.NewReader(c.io.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return errNotConfirmed
	}
	return nil
}
