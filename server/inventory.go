package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/validate"
)

// InventoryEngine is what the inventory service needs from the engine.
type InventoryEngine interface {
	ListInventory(ctx context.Context, f domain.InventoryFilter, after *engine.InventoryCursor, limit int) ([]domain.InventorySecret, *engine.InventoryCursor, error)
	CountInventory(ctx context.Context, f domain.InventoryFilter, allow func(arn string) bool) (int64, error)
	InventorySecret(ctx context.Context, arn string, ops int) (engine.SecretDetail, error)
}

type inventoryService struct {
	replicadv1.UnimplementedInventoryServiceServer
	engine InventoryEngine
	rules  *validate.Rules
	errs   errorMapper
	authz  Authorizer
}

// inventoryToken is ListSecrets' page token: the keyset position after the
// last row returned, bound to the filter (AIP-158). It names an ARN, so the
// request field is redacted in the audit trail.
type inventoryToken struct {
	V       int    `json:"v"`
	Account string `json:"a"`
	Region  string `json:"r"`
	ARN     string `json:"n"`
	Filter  string `json:"f"`
}

func inventoryFilterDigest(f domain.InventoryFilter) string {
	d := filterDigest(f.Account, f.PrimaryRegion, f.ReplicaRegion, string(f.ReplicaStatus), f.NamePrefix,
		f.TagKey, f.TagValue, strconv.FormatBool(f.IncludeGone), strconv.Itoa(int(f.Drift)), f.DriftKind)
	return base64.RawURLEncoding.EncodeToString(d[:])
}

func (t inventoryToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeInventoryToken(s, digest string) (*engine.InventoryCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errPageToken
	}
	var t inventoryToken
	if err := json.Unmarshal(b, &t); err != nil || t.V != 1 || t.Filter != digest || t.ARN == "" {
		return nil, errPageToken
	}
	return &engine.InventoryCursor{Account: t.Account, Region: t.Region, ARN: t.ARN}, nil
}

// ListSecrets pages through the inventory. Rows the caller may not read
// (inventory.read on the secret's ARN) are left out; the page is filled
// from further rows, scanning a bounded number of pages per call, and the
// token resumes after the last row scanned.
func (s *inventoryService) ListSecrets(ctx context.Context, req *replicadv1.ListSecretsRequest) (*replicadv1.ListSecretsResponse, error) {
	f, err := s.rules.ListSecrets(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	digest := inventoryFilterDigest(f)
	var cur *engine.InventoryCursor
	if tok := req.GetPageToken(); tok != "" {
		if cur, err = decodeInventoryToken(tok, digest); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = validate.DefaultPageSize
	case size > validate.MaxPageSize:
		size = validate.MaxPageSize
	}
	resp := &replicadv1.ListSecretsResponse{}
	// The total is counted after the page: a drift filter's listing first
	// brings stale drift up to date, and the count must see the same.
	total := func() (*replicadv1.ListSecretsResponse, error) {
		var allow func(string) bool
		if s.authz != nil {
			allow = func(arn string) bool { return authorize(ctx, s.authz, access.ActionInventoryRead, arn, nil) == nil }
		}
		n, err := s.engine.CountInventory(ctx, f, allow)
		if err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
		resp.TotalSize = int32(min(n, math.MaxInt32))
		return resp, nil
	}
	const maxScans = 8
	for range maxScans {
		rows, next, err := s.engine.ListInventory(ctx, f, cur, size-len(resp.Secrets))
		if err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
		for _, row := range rows {
			if authorize(ctx, s.authz, access.ActionInventoryRead, row.ARN, nil) == nil {
				resp.Secrets = append(resp.Secrets, inventoryToProto(row))
			}
		}
		if next == nil {
			return total() // the inventory is exhausted
		}
		cur = next
		if len(resp.Secrets) == size {
			break
		}
	}
	resp.NextPageToken = inventoryToken{V: 1, Account: cur.Account, Region: cur.Region, ARN: cur.ARN, Filter: digest}.encode()
	return total()
}

// GetSecret returns one inventory row, the policy that selects it, its
// drift and the secret's recent operations.
func (s *inventoryService) GetSecret(ctx context.Context, req *replicadv1.GetSecretRequest) (*replicadv1.GetSecretResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionInventoryRead, req.GetSecretId(), nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	id, err := s.rules.GetSecret(req)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	n := int(req.GetRecentOperations())
	if n == 0 {
		n = validate.DefaultRecentOps
	}
	detail, err := s.engine.InventorySecret(ctx, id.Raw, n)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	sec := detail.Secret
	resp := &replicadv1.GetSecretResponse{Secret: inventoryToProto(sec),
		ConflictingPolicies: sec.Drift.Conflicts, DriftTime: ts(sec.Drift.ComputedAt)}
	if detail.Policy != nil && authorize(ctx, s.authz, access.ActionPoliciesRead, "", nil) == nil {
		resp.Policy = policyToProto(*detail.Policy)
	}
	for _, d := range sec.Drift.Findings {
		resp.Drifts = append(resp.Drifts, &replicadv1.Drift{Kind: driftKindToProto(d.Kind), Region: d.Region, Message: d.Message})
	}
	for _, op := range detail.Operations {
		if authorize(ctx, s.authz, access.ActionOperationsRead, op.Params.SecretID, nil) == nil {
			resp.RecentOperations = append(resp.RecentOperations, operationToProto(op))
		}
	}
	return resp, nil
}

func inventoryToProto(sec domain.InventorySecret) *replicadv1.InventorySecret {
	out := &replicadv1.InventorySecret{
		Arn: sec.ARN, Account: sec.Account, Name: sec.Name, PrimaryRegion: sec.Region, KmsKeyId: sec.KMSKeyID,
		Tags: sec.Tags, ScheduledForDeletion: sec.Deleted, LastChangedTime: ts(sec.LastChanged),
		FirstSeenTime: ts(sec.FirstSeen), LastSeenTime: ts(sec.LastSeen), ReadTime: ts(sec.ReadAt),
		Gone: sec.Gone, GoneTime: ts(sec.GoneSince),
		Policy: sec.Drift.Policy, InConflict: len(sec.Drift.Conflicts) > 0, DriftTime: ts(sec.Drift.ComputedAt),
	}
	for _, k := range sec.Drift.Kinds() {
		out.DriftKinds = append(out.DriftKinds, driftKindToProto(k))
	}
	reps := slices.Clone(sec.Replicas)
	slices.SortFunc(reps, func(a, b domain.Replica) int {
		if a.Region < b.Region {
			return -1
		}
		if a.Region > b.Region {
			return 1
		}
		return 0
	})
	for _, r := range reps {
		out.Replicas = append(out.Replicas, &replicadv1.ReplicaStatus{
			Region: r.Region, KmsKeyId: r.KMSKeyID, Status: replicationStatusToProto[string(r.Status)],
			StatusMessage: r.StatusMessage, LastAccessedTime: ts(r.LastAccessed),
		})
	}
	return out
}
