package replictl

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// policyNotCompliantError reports `policy status --wait` ending with the
// policy still not compliant: nothing pending or running would change it.
type policyNotCompliantError struct {
	st *replicadv1.ReplicationPolicyStatus
}

func (e *policyNotCompliantError) Error() string {
	return fmt.Sprintf("policy %s is not compliant and nothing in flight will make it so: %d of %d selected secrets compliant, %d in conflict, %d with drift it does not fix",
		e.st.GetName(), e.st.GetCompliant(), e.st.GetSelected(), e.st.GetInConflict(), e.st.GetUnfixable())
}

func (c *cli) policy(ctx context.Context, args []string) error {
	return c.subcommands(ctx, "policy", args, map[string]commandFunc{
		"plan":   c.policyPlan,
		"create": c.policyCreate,
		"update": c.policyUpdate,
		"get":    c.policyGet,
		"list":   c.policyList,
		"delete": c.policyDelete,
		"status": c.policyStatus,
	})
}

// readPolicyFile reads a ReplicationPolicy from a YAML or JSON file (the
// proto's field names, as the REST API takes them); "-" is stdin.
func readPolicyFile(path string) (*replicadv1.ReplicationPolicy, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path) //nolint:gosec // the user names the file to read
	}
	if err != nil {
		return nil, usageErrorf("read policy file: %v", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, usageErrorf("policy file %s: %v", path, err)
	}
	p := &replicadv1.ReplicationPolicy{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(j, p); err != nil {
		return nil, usageErrorf("policy file %s: %v", path, err)
	}
	return p, nil
}

func (c *cli) policyPlan(ctx context.Context, args []string) error {
	fs := c.flagSet("policy plan", "policy plan FILE|--name NAME [--max-secrets N]")
	name := fs.String("name", "", "plan the stored policy NAME instead of a file")
	maxSecrets := fs.Int("max-secrets", 100, "list at most N secrets (the counts cover all)")
	want := 1
	if slices.ContainsFunc(args, func(a string) bool {
		return a == "--name" || a == "-name" || strings.HasPrefix(a, "--name=") || strings.HasPrefix(a, "-name=")
	}) {
		want = 0
	}
	pos, err := c.parse(fs, args, want, "a policy FILE (or --name NAME)")
	if err != nil {
		return err
	}
	req := &replicadv1.PlanReplicationPolicyRequest{Name: *name, MaxSecrets: int32(*maxSecrets)} //nolint:gosec // validated by the server
	if want == 1 {
		if req.Policy, err = readPolicyFile(pos[0]); err != nil {
			return err
		}
	}
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.close()
	plan, err := call(ctx, c, cl, "plan policy", func(ctx context.Context) (*replicadv1.PlanReplicationPolicyResponse, error) {
		return cl.policies.PlanReplicationPolicy(ctx, req)
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, plan)
	}
	policyName := *name
	if req.GetPolicy() != nil {
		policyName = req.GetPolicy().GetName()
	}
	writePlan(c.io.Stdout, policyName, plan)
	return nil
}

// writePlan prints a plan the way terraform plan prints a change: one
// block per secret, + for a replica added, - for one removed, ~ for drift
// only reported, ! for a conflict; then the totals.
func writePlan(w io.Writer, name string, p *replicadv1.PlanReplicationPolicyResponse) {
	if p.GetOperationCount() == 0 && p.GetInConflict() == 0 && len(p.GetSecrets()) == 0 {
		fmt.Fprintf(w, "No changes. Policy %q: %d selected secrets, all compliant.\n", name, p.GetSelected())
	} else {
		fmt.Fprintf(w, "Policy %q would perform the following operations:\n", name)
	}
	for _, s := range p.GetSecrets() {
		fmt.Fprintf(w, "\n  # %s (primary %s)\n", s.GetName(), s.GetPrimaryRegion())
		if s.GetInConflict() {
			fmt.Fprintf(w, "  ! in conflict with %s: left alone\n", strings.Join(s.GetConflictingPolicies(), ", "))
			continue
		}
		fixed := map[string]bool{}
		for _, op := range s.GetOperations() {
			var regions []string
			for _, r := range op.GetRegions() {
				fixed[r.GetRegion()] = true
				if r.GetKmsKeyId() != "" && op.GetKind() == replicadv1.OperationKind_OPERATION_KIND_REPLICATE {
					regions = append(regions, r.GetRegion()+" (kms "+r.GetKmsKeyId()+")")
				} else {
					regions = append(regions, r.GetRegion())
				}
			}
			sign, verb := "+", "replicate to"
			if op.GetKind() == replicadv1.OperationKind_OPERATION_KIND_REMOVE {
				sign, verb = "-", "remove from"
			}
			force := ""
			if op.GetForceOverwrite() {
				force = " [force overwrite]"
			}
			fmt.Fprintf(w, "  %s %s %s%s\n", sign, verb, strings.Join(regions, ", "), force)
		}
		for _, d := range s.GetDrifts() {
			kind := enumWord(d.GetKind().String(), "DRIFT_KIND_")
			msg := ""
			if d.GetMessage() != "" {
				msg = ": " + d.GetMessage()
			}
			if !fixed[d.GetRegion()] || len(s.GetOperations()) == 0 {
				fmt.Fprintf(w, "  ~ %s %s%s (reported, not fixed)\n", kind, d.GetRegion(), msg)
			}
		}
	}
	if n := int(p.GetSelected()-p.GetCompliant()) - len(p.GetSecrets()); n > 0 {
		fmt.Fprintf(w, "\n  ... and %d more secrets (--max-secrets)\n", n)
	}
	fmt.Fprintf(w, "\nPlan: %d operations (%d AWS writes); %d selected, %d compliant, %d in conflict.\n",
		p.GetOperationCount(), p.GetWriteCalls(), p.GetSelected(), p.GetCompliant(), p.GetInConflict())
	if d := p.GetEstimatedTimeToCompliance().AsDuration(); d > 0 {
		fmt.Fprintf(w, "Estimated time to compliance: %s at the policy's share of the write budget.\n", roundDuration(d))
	}
	for _, warn := range p.GetWarnings() {
		fmt.Fprintf(w, "Warning: %s\n", warn)
	}
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d > time.Minute:
		return d.Round(time.Second)
	case d > time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

func (c *cli) policyCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("policy create", "policy create FILE [--validate-only]")
	validateOnly := fs.Bool("validate-only", false, "check the policy (and its overlaps) without storing it")
	pos, cl, err := c.connect(fs, args, 1, "a policy FILE")
	if err != nil {
		return err
	}
	defer cl.close()
	p, err := readPolicyFile(pos[0])
	if err != nil {
		return err
	}
	resp, err := call(ctx, c, cl, "create policy", func(ctx context.Context) (*replicadv1.CreateReplicationPolicyResponse, error) {
		return cl.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: p, ValidateOnly: *validateOnly})
	})
	if err != nil {
		return err
	}
	return c.printPolicy(resp.GetPolicy(), *validateOnly)
}

func (c *cli) policyUpdate(ctx context.Context, args []string) error {
	fs := c.flagSet("policy update", "policy update FILE [--etag ETAG] [--validate-only]")
	etag := fs.String("etag", "", "refuse the update unless the stored policy still has this etag (default: the file's etag, if any)")
	validateOnly := fs.Bool("validate-only", false, "check the policy (and its overlaps) without storing it")
	pos, cl, err := c.connect(fs, args, 1, "a policy FILE")
	if err != nil {
		return err
	}
	defer cl.close()
	p, err := readPolicyFile(pos[0])
	if err != nil {
		return err
	}
	if *etag != "" {
		p.Etag = *etag
	}
	resp, err := call(ctx, c, cl, "update policy", func(ctx context.Context) (*replicadv1.UpdateReplicationPolicyResponse, error) {
		return cl.policies.UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: p, ValidateOnly: *validateOnly})
	})
	if err != nil {
		return err
	}
	return c.printPolicy(resp.GetPolicy(), *validateOnly)
}

func (c *cli) printPolicy(p *replicadv1.ReplicationPolicy, validated bool) error {
	if c.output == "json" {
		return writeJSON(c.io.Stdout, p)
	}
	if validated {
		fmt.Fprintf(c.io.Stdout, "policy %s is valid (not stored: --validate-only)\n", p.GetName())
		return nil
	}
	writePolicy(c.io.Stdout, p)
	return nil
}

func writePolicy(w io.Writer, p *replicadv1.ReplicationPolicy) {
	fmt.Fprintf(w, "Policy:    %s\n", p.GetName())
	fmt.Fprintf(w, "Mode:      %s\n", enumWord(p.GetMode().String(), "POLICY_MODE_"))
	sel := p.GetSelector()
	var parts []string
	if len(sel.GetAccounts()) > 0 {
		parts = append(parts, fmt.Sprintf("%d account(s)", len(sel.GetAccounts())))
	}
	if len(sel.GetNameGlobs()) > 0 {
		parts = append(parts, "names "+strings.Join(sel.GetNameGlobs(), ", "))
	}
	keys := make([]string, 0, len(sel.GetTags()))
	for k := range sel.GetTags() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, "tag "+k+"="+sel.GetTags()[k])
	}
	if len(sel.GetExcludeNameGlobs()) > 0 {
		parts = append(parts, "except "+strings.Join(sel.GetExcludeNameGlobs(), ", "))
	}
	if len(sel.GetPrimaryRegions()) > 0 {
		parts = append(parts, "primaries expected in "+strings.Join(sel.GetPrimaryRegions(), ", "))
	}
	if sel.GetSelectAll() {
		parts = append(parts, "every secret")
	}
	fmt.Fprintf(w, "Selects:   %s\n", strings.Join(parts, "; "))
	var reps []string
	for _, r := range p.GetReplicas() {
		k := r.GetKmsKeyId()
		if k == "" {
			k = "aws/secretsmanager"
		}
		reps = append(reps, r.GetRegion()+" ("+k+")")
	}
	fmt.Fprintf(w, "Replicas:  %s\n", strings.Join(reps, ", "))
	fmt.Fprintf(w, "Behaviour: retry_failed=%t force_overwrite=%t prune=%t recreate_on_kms_change=%t write_budget_share=%g\n",
		p.GetRetryFailed(), p.GetForceOverwrite(), p.GetPrune(), p.GetRecreateOnKmsChange(), p.GetWriteBudgetShare())
	fmt.Fprintf(w, "Etag:      %s\n", p.GetEtag())
	fmt.Fprintf(w, "Updated:   %s by %s\n", p.GetUpdateTime().AsTime().Format(time.RFC3339), p.GetUpdatedBy())
}

func (c *cli) policyGet(ctx context.Context, args []string) error {
	fs := c.flagSet("policy get", "policy get NAME")
	pos, cl, err := c.connect(fs, args, 1, "one policy NAME")
	if err != nil {
		return err
	}
	defer cl.close()
	resp, err := call(ctx, c, cl, "get policy", func(ctx context.Context) (*replicadv1.GetReplicationPolicyResponse, error) {
		return cl.policies.GetReplicationPolicy(ctx, &replicadv1.GetReplicationPolicyRequest{Name: pos[0]})
	})
	if err != nil {
		return err
	}
	return c.printPolicy(resp.GetPolicy(), false)
}

func (c *cli) policyList(ctx context.Context, args []string) error {
	fs := c.flagSet("policy list", "policy list")
	_, cl, err := c.connect(fs, args, 0, "")
	if err != nil {
		return err
	}
	defer cl.close()
	var all []*replicadv1.ReplicationPolicy
	next := ""
	for {
		resp, err := call(ctx, c, cl, "list policies", func(ctx context.Context) (*replicadv1.ListReplicationPoliciesResponse, error) {
			return cl.policies.ListReplicationPolicies(ctx, &replicadv1.ListReplicationPoliciesRequest{PageSize: 200, PageToken: next})
		})
		if err != nil {
			return err
		}
		all = append(all, resp.GetPolicies()...)
		if next = resp.GetNextPageToken(); next == "" {
			break
		}
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, &replicadv1.ListReplicationPoliciesResponse{Policies: all})
	}
	fmt.Fprintf(c.io.Stdout, "%-24s %-8s %-40s %s\n", "NAME", "MODE", "REPLICAS", "UPDATED")
	for _, p := range all {
		var reps []string
		for _, r := range p.GetReplicas() {
			reps = append(reps, r.GetRegion())
		}
		fmt.Fprintf(c.io.Stdout, "%-24s %-8s %-40s %s\n", p.GetName(), enumWord(p.GetMode().String(), "POLICY_MODE_"),
			strings.Join(reps, ","), p.GetUpdateTime().AsTime().Format(time.RFC3339))
	}
	return nil
}

func (c *cli) policyDelete(ctx context.Context, args []string) error {
	fs := c.flagSet("policy delete", "policy delete NAME [--etag ETAG]")
	etag := fs.String("etag", "", "refuse unless the stored policy still has this etag")
	pos, cl, err := c.connect(fs, args, 1, "one policy NAME")
	if err != nil {
		return err
	}
	defer cl.close()
	if _, err := call(ctx, c, cl, "delete policy", func(ctx context.Context) (*replicadv1.DeleteReplicationPolicyResponse, error) {
		return cl.policies.DeleteReplicationPolicy(ctx, &replicadv1.DeleteReplicationPolicyRequest{Name: pos[0], Etag: *etag})
	}); err != nil {
		return err
	}
	if c.output == "text" {
		fmt.Fprintf(c.io.Stdout, "policy %s deleted\n", pos[0])
	}
	return nil
}

func (c *cli) policyStatus(ctx context.Context, args []string) error {
	fs := c.flagSet("policy status", "policy status NAME [--wait]")
	wait := fs.Bool("wait", false, "follow the policy until it is compliant, or until nothing in flight can make it so")
	pos, cl, err := c.connect(fs, args, 1, "one policy NAME")
	if err != nil {
		return err
	}
	defer cl.close()
	get := func() (*replicadv1.ReplicationPolicyStatus, error) {
		resp, err := call(ctx, c, cl, "policy status", func(ctx context.Context) (*replicadv1.GetReplicationPolicyStatusResponse, error) {
			return cl.policies.GetReplicationPolicyStatus(ctx, &replicadv1.GetReplicationPolicyStatusRequest{Name: pos[0]})
		})
		return resp.GetStatus(), err
	}
	st, err := get()
	if err != nil {
		return err
	}
	if !*wait {
		if c.output == "json" {
			return writeJSON(c.io.Stdout, st)
		}
		writePolicyStatus(c.io.Stdout, st)
		return nil
	}
	// One line per change (or redrawn in place on a terminal), then the
	// full status at the end.
	last := ""
	settledRounds := 0
	for {
		line := statusLine(st)
		if line != last {
			if c.io.Terminal && last != "" {
				fmt.Fprint(c.io.Stdout, "\x1b[1A\x1b[2K")
			}
			fmt.Fprintln(c.io.Stdout, cut(line, c.io.Width))
			last = line
		}
		if st.GetCompliantAll() {
			break
		}
		// Settled: nothing in flight and nothing the policy would still
		// do, seen twice in a row (a round may be about to submit).
		if st.GetOperationsPending()+st.GetOperationsRunning() == 0 && st.GetEstimatedTimeToCompliance().AsDuration() == 0 {
			if settledRounds++; settledRounds >= 2 {
				break
			}
		} else {
			settledRounds = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.io.PollInterval):
		}
		if st, err = get(); err != nil {
			return err
		}
	}
	if c.output == "json" {
		if err := writeJSON(c.io.Stdout, st); err != nil {
			return err
		}
	} else {
		writePolicyStatus(c.io.Stdout, st)
	}
	if !st.GetCompliantAll() {
		return &policyNotCompliantError{st: st}
	}
	return nil
}

func cut(s string, width int) string {
	if width > 0 && len(s) > width {
		return s[:width]
	}
	return s
}

func statusLine(st *replicadv1.ReplicationPolicyStatus) string {
	eta := ""
	if d := st.GetEstimatedTimeToCompliance().AsDuration(); d > 0 {
		eta = ", ETA " + roundDuration(d).String()
	}
	return fmt.Sprintf("%s: %d/%d compliant, %d in conflict; operations %d pending, %d running, %d failed%s",
		st.GetName(), st.GetCompliant(), st.GetSelected(), st.GetInConflict(),
		st.GetOperationsPending(), st.GetOperationsRunning(), st.GetOperationsFailed(), eta)
}

func writePolicyStatus(w io.Writer, st *replicadv1.ReplicationPolicyStatus) {
	fmt.Fprintf(w, "Policy:      %s (%s)\n", st.GetName(), enumWord(st.GetMode().String(), "POLICY_MODE_"))
	fmt.Fprintf(w, "Selected:    %d\n", st.GetSelected())
	fmt.Fprintf(w, "Compliant:   %d\n", st.GetCompliant())
	fmt.Fprintf(w, "In conflict: %d\n", st.GetInConflict())
	kinds := make([]string, 0, len(st.GetDrifted()))
	for k := range st.GetDrifted() {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "Drifted:     %-24s %d\n", k, st.GetDrifted()[k])
	}
	fmt.Fprintf(w, "Not fixable: %d (drift the policy only reports)\n", st.GetUnfixable())
	fmt.Fprintf(w, "Operations:  %d pending, %d running, %d succeeded, %d failed\n",
		st.GetOperationsPending(), st.GetOperationsRunning(), st.GetOperationsSucceeded(), st.GetOperationsFailed())
	if d := st.GetEstimatedTimeToCompliance().AsDuration(); d > 0 {
		fmt.Fprintf(w, "ETA:         %s\n", roundDuration(d))
	}
	if st.GetCompliantAll() {
		fmt.Fprintln(w, "Compliant:   yes")
	}
}
