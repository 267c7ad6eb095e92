package server

import (
	"context"
	"encoding/base64"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/validate"
)

// PolicyEngine is what the policy service needs from the engine.
type PolicyEngine interface {
	CreatePolicy(ctx context.Context, p domain.Policy, validateOnly bool) (domain.Policy, error)
	UpdatePolicy(ctx context.Context, p domain.Policy, validateOnly bool) (domain.Policy, error)
	DeletePolicy(ctx context.Context, name, etag string) (domain.Policy, error)
	GetPolicy(ctx context.Context, name string) (domain.Policy, error)
	ListPolicies(ctx context.Context, after string, limit int) ([]domain.Policy, error)
	PlanPolicy(ctx context.Context, p domain.Policy, maxSecrets int) (domain.PolicyPlan, error)
	PolicyStatus(ctx context.Context, name string) (domain.PolicyStatus, error)
}

type policyService struct {
	replicadv1.UnimplementedPolicyServiceServer
	engine PolicyEngine
	rules  *validate.Rules
	red    *redact.Redactor
	errs   errorMapper
	authz  Authorizer
}

// authorizeWrite asks for policies.write over the policy's desired
// Regions, and policies.prune as well for a policy that removes replicas.
func (s *policyService) authorizeWrite(ctx context.Context, p *replicadv1.ReplicationPolicy) error {
	var regions []string
	for _, r := range p.GetReplicas() {
		regions = append(regions, r.GetRegion())
	}
	if err := authorize(ctx, s.authz, access.ActionPoliciesWrite, "", regions); err != nil {
		return err
	}
	if p.GetPrune() || p.GetRecreateOnKmsChange() {
		return authorize(ctx, s.authz, access.ActionPoliciesPrune, "", regions)
	}
	return nil
}

func (s *policyService) CreateReplicationPolicy(ctx context.Context, req *replicadv1.CreateReplicationPolicyRequest) (*replicadv1.CreateReplicationPolicyResponse, error) {
	if err := s.authorizeWrite(ctx, req.GetPolicy()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	p, err := s.rules.Policy("policy", req.GetPolicy())
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	p.UpdatedBy = CallerFrom(ctx).Principal
	out, err := s.engine.CreatePolicy(ctx, p, req.GetValidateOnly())
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.CreateReplicationPolicyResponse{Policy: policyToProto(out)}, nil
}

func (s *policyService) UpdateReplicationPolicy(ctx context.Context, req *replicadv1.UpdateReplicationPolicyRequest) (*replicadv1.UpdateReplicationPolicyResponse, error) {
	if err := s.authorizeWrite(ctx, req.GetPolicy()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if n := req.GetName(); n != "" && req.GetPolicy() != nil {
		switch req.GetPolicy().GetName() {
		case "":
			req.Policy.Name = n
		case n:
		default:
			return nil, s.errs.toStatus(ctx, &validate.Error{Violations: []validate.Violation{{Field: "policy.name", Reason: "NAME_MISMATCH",
				Description: "differs from the name in the request path"}}})
		}
	}
	p, err := s.rules.Policy("policy", req.GetPolicy())
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	p.UpdatedBy = CallerFrom(ctx).Principal
	out, err := s.engine.UpdatePolicy(ctx, p, req.GetValidateOnly())
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.UpdateReplicationPolicyResponse{Policy: policyToProto(out)}, nil
}

func (s *policyService) DeleteReplicationPolicy(ctx context.Context, req *replicadv1.DeleteReplicationPolicyRequest) (*replicadv1.DeleteReplicationPolicyResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionPoliciesWrite, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if err := validate.PolicyName("name", req.GetName()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if _, err := s.engine.DeletePolicy(ctx, req.GetName(), req.GetEtag()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.DeleteReplicationPolicyResponse{}, nil
}

func (s *policyService) GetReplicationPolicy(ctx context.Context, req *replicadv1.GetReplicationPolicyRequest) (*replicadv1.GetReplicationPolicyResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionPoliciesRead, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if err := validate.PolicyName("name", req.GetName()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	p, err := s.engine.GetPolicy(ctx, req.GetName())
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.GetReplicationPolicyResponse{Policy: policyToProto(p)}, nil
}

// A policies page token is the last name returned, so a list pages in
// name order whatever is created or deleted meanwhile.
const policyTokenPrefix = "p1:"

func (s *policyService) ListReplicationPolicies(ctx context.Context, req *replicadv1.ListReplicationPoliciesRequest) (*replicadv1.ListReplicationPoliciesResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionPoliciesRead, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	after := ""
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(b), policyTokenPrefix) {
			return nil, s.errs.toStatus(ctx, errPageToken)
		}
		after = strings.TrimPrefix(string(b), policyTokenPrefix)
		if validate.PolicyName("page_token", after) != nil {
			return nil, s.errs.toStatus(ctx, errPageToken)
		}
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, s.errs.toStatus(ctx, &validate.Error{Violations: []validate.Violation{{Field: "page_size", Reason: "OUT_OF_RANGE", Description: "must not be negative"}}})
	case size == 0:
		size = validate.DefaultPageSize
	case size > validate.MaxPageSize:
		size = validate.MaxPageSize
	}
	list, err := s.engine.ListPolicies(ctx, after, size+1)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	resp := &replicadv1.ListReplicationPoliciesResponse{}
	for i, p := range list {
		if i == size {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(policyTokenPrefix + list[size-1].Name))
			break
		}
		resp.Policies = append(resp.Policies, policyToProto(p))
	}
	return resp, nil
}

func (s *policyService) PlanReplicationPolicy(ctx context.Context, req *replicadv1.PlanReplicationPolicyRequest) (*replicadv1.PlanReplicationPolicyResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionPoliciesRead, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	maxSecrets, err := validate.PlanSecrets(req.GetMaxSecrets())
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	var p domain.Policy
	switch {
	case req.GetPolicy() != nil && req.GetName() != "":
		return nil, s.errs.toStatus(ctx, &validate.Error{Violations: []validate.Violation{{Field: "name", Reason: "ONE_OF", Description: "give either a stored policy's name or a policy, not both"}}})
	case req.GetPolicy() != nil:
		if p, err = s.rules.Policy("policy", req.GetPolicy()); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
	default:
		if err := validate.PolicyName("name", req.GetName()); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
		if p, err = s.engine.GetPolicy(ctx, req.GetName()); err != nil {
			return nil, s.errs.toStatus(ctx, err)
		}
	}
	plan, err := s.engine.PlanPolicy(ctx, p, maxSecrets)
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return planToProto(plan), nil
}

func (s *policyService) GetReplicationPolicyStatus(ctx context.Context, req *replicadv1.GetReplicationPolicyStatusRequest) (*replicadv1.GetReplicationPolicyStatusResponse, error) {
	if err := authorize(ctx, s.authz, access.ActionPoliciesRead, "", nil); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	if err := validate.PolicyName("name", req.GetName()); err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	st, err := s.engine.PolicyStatus(ctx, req.GetName())
	if err != nil {
		return nil, s.errs.toStatus(ctx, err)
	}
	return &replicadv1.GetReplicationPolicyStatusResponse{Status: statusToProto(st)}, nil
}

var modeToProto = map[domain.PolicyMode]replicadv1.PolicyMode{
	domain.PolicyEnforce: replicadv1.PolicyMode_POLICY_MODE_ENFORCE,
	domain.PolicyReport:  replicadv1.PolicyMode_POLICY_MODE_REPORT,
}

func policyToProto(p domain.Policy) *replicadv1.ReplicationPolicy {
	out := &replicadv1.ReplicationPolicy{
		Name: p.Name,
		Selector: &replicadv1.PolicySelector{
			Accounts: p.Selector.Accounts, PrimaryRegions: p.Selector.PrimaryRegions, NameGlobs: p.Selector.NameGlobs,
			Tags: p.Selector.Tags, ExcludeNameGlobs: p.Selector.ExcludeNameGlobs, SelectAll: p.Selector.SelectAll,
		},
		Mode: modeToProto[p.Mode], RetryFailed: p.RetryFailed, ForceOverwrite: p.ForceOverwrite, Prune: p.Prune,
		RecreateOnKmsChange: p.RecreateOnKMSChange, WriteBudgetShare: p.WriteBudgetShare, Etag: p.ETag,
		CreateTime: timestamppb.New(p.CreatedAt), UpdateTime: timestamppb.New(p.UpdatedAt), UpdatedBy: p.UpdatedBy,
	}
	for _, r := range p.Replicas {
		out.Replicas = append(out.Replicas, &replicadv1.DesiredReplica{Region: r.Region, KmsKeyId: r.KMSKeyID})
	}
	return out
}

func driftKindToProto(k string) replicadv1.DriftKind {
	if v, ok := replicadv1.DriftKind_value["DRIFT_KIND_"+k]; ok {
		return replicadv1.DriftKind(v)
	}
	return replicadv1.DriftKind_DRIFT_KIND_UNSPECIFIED
}

func countsToProto(m map[string]int) map[string]int32 {
	out := make(map[string]int32, len(m))
	for k, v := range m {
		out[k] = int32(v) //nolint:gosec // counts of inventory rows
	}
	return out
}

func planToProto(p domain.PolicyPlan) *replicadv1.PlanReplicationPolicyResponse {
	out := &replicadv1.PlanReplicationPolicyResponse{
		Selected: int32(p.Selected), Compliant: int32(p.Compliant), InConflict: int32(p.InConflict), //nolint:gosec // counts
		OperationCount: int32(p.OperationCount), WriteCalls: int32(p.WriteCalls), //nolint:gosec // counts
		EstimatedTimeToCompliance: durationpb.New(p.ETA), Warnings: p.Warnings, DriftCounts: countsToProto(p.DriftCounts),
	}
	for _, s := range p.Secrets {
		ps := &replicadv1.PlannedSecret{Arn: s.ARN, Name: s.Name, PrimaryRegion: s.PrimaryRegion,
			InConflict: s.InConflict, ConflictingPolicies: s.ConflictsWith}
		for _, d := range s.Drifts {
			ps.Drifts = append(ps.Drifts, &replicadv1.Drift{Kind: driftKindToProto(d.Kind), Region: d.Region, Message: d.Message})
		}
		for _, op := range s.Operations {
			po := &replicadv1.PlannedOperation{Kind: kindToProto[op.Kind], ForceOverwrite: op.Force}
			for _, r := range op.Replicas {
				po.Regions = append(po.Regions, &replicadv1.PlannedRegion{Region: r.Region, KmsKeyId: r.KMSKeyID})
			}
			ps.Operations = append(ps.Operations, po)
		}
		out.Secrets = append(out.Secrets, ps)
	}
	return out
}

func statusToProto(st domain.PolicyStatus) *replicadv1.ReplicationPolicyStatus {
	out := &replicadv1.ReplicationPolicyStatus{
		Name: st.Policy.Name, Mode: modeToProto[st.Policy.Mode],
		Selected: int32(st.Selected), Compliant: int32(st.Compliant), InConflict: int32(st.InConflict), //nolint:gosec // counts
		Unfixable: int32(st.Unfixable), Drifted: countsToProto(st.Drifted), //nolint:gosec // counts
		OperationsPending:   int32(st.Operations[domain.StatePending] + st.Operations[domain.StateAwaitingApproval]), //nolint:gosec // counts
		OperationsRunning:   int32(st.Operations[domain.StateRunning]),                                               //nolint:gosec // counts
		OperationsFailed:    int32(st.Operations[domain.StateFailed]),                                                //nolint:gosec // counts
		OperationsSucceeded: int32(st.Operations[domain.StateSucceeded]),                                             //nolint:gosec // counts
		CompliantAll:        st.Selected == st.Compliant,
		ReadTime:            timestamppb.New(st.ReadAt),
	}
	if st.ETA > 0 {
		out.EstimatedTimeToCompliance = durationpb.New(st.ETA)
	}
	return out
}
