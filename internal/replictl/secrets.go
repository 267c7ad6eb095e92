package replictl

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

func (c *cli) secrets(ctx context.Context, args []string) error {
	return c.subcommands(ctx, "secrets", args, map[string]commandFunc{
		"list": c.secretsList,
		"get":  c.secretsGet,
	})
}

// parseReplicaStatus reads --replica-status.
func parseReplicaStatus(s string) (replicadv1.ReplicationStatus, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "")) {
	case "":
		return replicadv1.ReplicationStatus_REPLICATION_STATUS_UNSPECIFIED, nil
	case "inprogress":
		return replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS, nil
	case "insync":
		return replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC, nil
	case "failed":
		return replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED, nil
	}
	return 0, usageErrorf("--replica-status %q: want InProgress, InSync or Failed", s)
}

func parseDrift(s string) (replicadv1.DriftFilter, error) {
	switch strings.ToLower(s) {
	case "":
		return replicadv1.DriftFilter_DRIFT_FILTER_UNSPECIFIED, nil
	case "yes", "drifted":
		return replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED, nil
	case "no", "compliant":
		return replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT, nil
	}
	return 0, usageErrorf("--drift %q: want yes or no", s)
}

func (c *cli) secretsList(ctx context.Context, args []string) error {
	fs := c.flagSet("secrets list", "secrets list [--account ID] [--primary-region R] [--replica-region R] [--replica-status S] [--name-prefix P] [--tag K[=V]] [--drift yes|no] [--drift-kind K] [--gone] [--limit N]")
	account := fs.String("account", "", "only this AWS account's secrets (12 digits)")
	primary := fs.String("primary-region", "", "only secrets whose primary is in this Region")
	replica := fs.String("replica-region", "", "only secrets with a replica in this Region")
	statusFlag := fs.String("replica-status", "", "only secrets with a replica in this `STATUS`: InProgress, InSync, Failed")
	prefix := fs.String("name-prefix", "", "only secrets whose name starts with this")
	tag := fs.String("tag", "", "only secrets with this tag: `KEY` or KEY=VALUE")
	driftFlag := fs.String("drift", "", "only drifted (yes) or compliant (no) secrets")
	driftKind := fs.String("drift-kind", "", "only secrets with this drift `KIND` (MISSING_REGION, FAILED_REPLICA, ...)")
	gone := fs.Bool("gone", false, "include secrets a complete scan no longer found")
	limit := fs.Int("limit", 100, "show at most N secrets (0: all)")
	token := fs.String("page-token", "", "continue a listing from this token (printed when more remain)")
	if _, err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	status, err := parseReplicaStatus(*statusFlag)
	if err != nil {
		return err
	}
	drift, err := parseDrift(*driftFlag)
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
	var list []*replicadv1.InventorySecret
	next := *token
	for {
		pageSize := 500
		if *limit > 0 {
			pageSize = min(pageSize, *limit-len(list))
		}
		resp, err := call(ctx, c, cl, "list secrets", func(ctx context.Context) (*replicadv1.ListSecretsResponse, error) {
			return cl.inventory.ListSecrets(ctx, &replicadv1.ListSecretsRequest{
				PageSize: int32(pageSize), PageToken: next, Account: *account, PrimaryRegion: *primary,
				ReplicaRegion: *replica, ReplicaStatus: status, Drift: drift, DriftKind: *driftKind,
				NamePrefix: *prefix, Tag: *tag, ShowGone: *gone,
			})
		})
		if err != nil {
			return err
		}
		list = append(list, resp.GetSecrets()...)
		next = resp.GetNextPageToken()
		if next == "" || (*limit > 0 && len(list) >= *limit) {
			break
		}
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, &replicadv1.ListSecretsResponse{Secrets: list, NextPageToken: next})
	}
	writeSecretTable(c.io.Stdout, list)
	if next != "" {
		fmt.Fprintf(c.io.Stderr, "more secrets: add --page-token %s\n", next)
	}
	return nil
}

func (c *cli) secretsGet(ctx context.Context, args []string) error {
	fs := c.flagSet("secrets get", "secrets get ARN [--recent N]")
	recent := fs.Int("recent", 5, "how many of the secret's recent operations to show (0-100)")
	pos, cl, err := c.connect(fs, args, 1, "one secret ARN")
	if err != nil {
		return err
	}
	defer cl.close()
	resp, err := call(ctx, c, cl, "get secret", func(ctx context.Context) (*replicadv1.GetSecretResponse, error) {
		return cl.inventory.GetSecret(ctx, &replicadv1.GetSecretRequest{SecretId: pos[0], RecentOperations: int32(*recent)})
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.io.Stdout, resp)
	}
	writeInventorySecret(c.io.Stdout, resp)
	return nil
}

// replicaSummary renders a secret's replicas as REGION:STATUS pairs.
func replicaSummary(s *replicadv1.InventorySecret) string {
	if len(s.GetReplicas()) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(s.GetReplicas()))
	for _, r := range s.GetReplicas() {
		parts = append(parts, r.GetRegion()+":"+awsStatus(r.GetStatus()))
	}
	return strings.Join(parts, ",")
}

func writeSecretTable(w io.Writer, list []*replicadv1.InventorySecret) {
	tw := table(w)
	fmt.Fprintln(tw, "ACCOUNT\tPRIMARY REGION\tNAME\tREPLICAS\tLAST SEEN\tSTATE")
	for _, s := range list {
		state := "present"
		switch {
		case s.GetGone():
			state = "gone"
		case s.GetScheduledForDeletion():
			state = "scheduled for deletion"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.GetAccount(), s.GetPrimaryRegion(), printable(s.GetName()),
			replicaSummary(s), when(s.GetLastSeenTime()), state)
	}
	_ = tw.Flush()
}

func writeInventorySecret(w io.Writer, resp *replicadv1.GetSecretResponse) {
	s := resp.GetSecret()
	tw := table(w)
	fmt.Fprintf(tw, "secret\t%s\n", printable(s.GetName()))
	fmt.Fprintf(tw, "arn\t%s\n", s.GetArn())
	fmt.Fprintf(tw, "account\t%s\n", s.GetAccount())
	fmt.Fprintf(tw, "primary region\t%s\n", s.GetPrimaryRegion())
	fmt.Fprintf(tw, "kms key\t%s\n", dash(s.GetKmsKeyId()))
	keys := make([]string, 0, len(s.GetTags()))
	for k := range s.GetTags() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tags := make([]string, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, printable(k+"="+s.GetTags()[k]))
	}
	fmt.Fprintf(tw, "tags\t%s\n", dash(strings.Join(tags, ", ")))
	fmt.Fprintf(tw, "last changed\t%s\n", when(s.GetLastChangedTime()))
	fmt.Fprintf(tw, "last seen\t%s\n", when(s.GetLastSeenTime()))
	fmt.Fprintf(tw, "read\t%s\n", when(s.GetReadTime()))
	switch {
	case s.GetGone():
		fmt.Fprintf(tw, "state\tgone since %s\n", when(s.GetGoneTime()))
	case s.GetScheduledForDeletion():
		fmt.Fprintln(tw, "state\tscheduled for deletion")
	default:
		fmt.Fprintln(tw, "state\tpresent")
	}
	switch {
	case len(resp.GetConflictingPolicies()) > 0:
		fmt.Fprintf(tw, "policy\t%s, in conflict with %s: left alone\n", dash(s.GetPolicy()), strings.Join(resp.GetConflictingPolicies(), ", "))
	case s.GetPolicy() == "":
		fmt.Fprintln(tw, "policy\tnone selects it")
	case len(resp.GetDrifts()) == 0:
		fmt.Fprintf(tw, "policy\t%s (compliant)\n", s.GetPolicy())
	default:
		fmt.Fprintf(tw, "policy\t%s (drifted)\n", s.GetPolicy())
	}
	_ = tw.Flush()
	if len(resp.GetDrifts()) > 0 {
		fmt.Fprintln(w, "\ndrift:")
		tw = table(w)
		fmt.Fprintln(tw, "KIND\tREGION\tMESSAGE")
		for _, d := range resp.GetDrifts() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.TrimPrefix(d.GetKind().String(), "DRIFT_KIND_"), d.GetRegion(), dash(printable(d.GetMessage())))
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w)
	if len(s.GetReplicas()) == 0 {
		fmt.Fprintln(w, "no replicas")
	} else {
		tw = table(w)
		fmt.Fprintln(tw, "REGION\tSTATUS\tKMS KEY\tMESSAGE")
		for _, r := range s.GetReplicas() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.GetRegion(), awsStatus(r.GetStatus()), dash(r.GetKmsKeyId()), dash(printable(r.GetStatusMessage())))
		}
		_ = tw.Flush()
	}
	if len(resp.GetRecentOperations()) > 0 {
		fmt.Fprintln(w, "\nrecent operations:")
		writeOperationTable(w, resp.GetRecentOperations())
	}
}
