package server

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/validate"
)

// DREngine is what the disaster recovery service needs from the engine,
// besides what the replication service does.
type DREngine interface {
	Engine
	PlanFailover(ctx context.Context, sel engine.FailoverSelector) (domain.DRPlan, error)
	RegionReadiness(ctx context.Context, region, target string) (engine.Readiness, error)
	PlanFailback(ctx context.Context, principal string, failoverID uuid.UUID, mode engine.FailbackMode, force bool) (domain.DRPlan, error)
}

// The engine serves the disaster recovery service (server.New finds it by
// a type assertion, which would otherwise fail silently).
var _ DREngine = (*engine.Engine)(nil)

type drService struct {
	replicadv1.UnimplementedDisasterRecoveryServiceServer
	// rs is the replication service: submissions, approvals, readability.
	rs     *replicationService
	engine DREngine
}

func (s *drService) GetRegionReadiness(ctx context.Context, req *replicadv1.GetRegionReadinessRequest) (*replicadv1.GetRegionReadinessResponse, error) {
	// Readiness lists every secret of the Region: the caller must be able
	// to read them all ("" is every secret to the policy).
	if err := authorize(ctx, s.rs.authz, access.ActionStatus, "", []string{req.GetRegion(), req.GetTarget()}); err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	if err := s.rs.rules.Readiness(req); err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	rd, err := s.engine.RegionReadiness(ctx, req.GetRegion(), req.GetTarget())
	if err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	out := &replicadv1.GetRegionReadinessResponse{Total: int32(rd.Total), Ready: int32(len(rd.Ready)), ReadySecretIds: rd.Ready}
	for _, sec := range rd.NotInSync {
		rep, _ := sec.Replica(req.GetTarget())
		out.NotInSync = append(out.NotInSync, &replicadv1.ReadinessSecret{SecretId: sec.ARN,
			Status: replicationStatusToProto[string(rep.Status)], Message: rep.StatusMessage})
	}
	for _, sec := range rd.NoReplica {
		out.NoReplica = append(out.NoReplica, &replicadv1.ReadinessSecret{SecretId: sec.ARN})
	}
	for _, k := range rd.KeyUnusable {
		rep, _ := k.Secret.Replica(req.GetTarget())
		out.KmsKeyUnusable = append(out.KmsKeyUnusable, &replicadv1.ReadinessSecret{SecretId: k.Secret.ARN,
			Status: replicationStatusToProto[string(rep.Status)], Message: k.Message, KmsKeyState: k.State})
	}
	return out, nil
}

func (s *drService) Failover(ctx context.Context, req *replicadv1.FailoverRequest) (*replicadv1.FailoverResponse, error) {
	regions := []string{req.GetSourceRegion(), req.GetTargetRegion()}
	// One named secret is authorised before anything else; a Region-wide
	// selection is authorised per selected secret below, once the
	// inventory has said which they are, so a caller allowed only some
	// prefixes can fail those over with a name glob.
	if id := req.GetSecretId(); id != "" {
		if err := authorize(ctx, s.rs.authz, access.ActionFailover, id, regions); err != nil {
			return nil, s.rs.errs.toStatus(ctx, err)
		}
	}
	if _, err := s.rs.rules.Failover(req); err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	plan, err := s.engine.PlanFailover(ctx, engine.FailoverSelector{
		Source: req.GetSourceRegion(), Target: req.GetTargetRegion(), SecretID: req.GetSecretId(),
		NameGlobs: req.GetNameGlobs(), Tags: req.GetTags(), Force: req.GetForce(),
	})
	if err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	// Every secret the plan touches must be the caller's to fail over: the
	// selection is the inventory's, so the policy is asked per secret.
	for _, sec := range plan.Secrets {
		if sec.Skip != "" {
			continue
		}
		if err := authorize(ctx, s.rs.authz, access.ActionFailover, sec.SecretID, regions); err != nil {
			return nil, s.rs.errs.toStatus(ctx, err)
		}
	}
	resp := &replicadv1.FailoverResponse{Plan: drProgressToProto(&domain.DRProgress{Plan: plan})}
	if req.GetValidateOnly() {
		return resp, nil
	}
	if len(plan.Secrets) == 0 {
		return nil, s.rs.errs.toStatus(ctx, &validate.Error{Violations: []validate.Violation{{
			Field: "source_region", Reason: "NOTHING_SELECTED",
			Description: fmt.Sprintf("the inventory has no secret with primary in %s matching the selection", req.GetSourceRegion()),
		}}})
	}
	sub := s.rs.submission(ctx, domain.KindFailover, "Failover", req, secretid.ID{}, req.GetRequestId(), req.GetReason(), nil)
	sub.AWSRegion, sub.Force, sub.DR = req.GetTargetRegion(), req.GetForce(), &plan
	// The failover needs approval when any secret in it does.
	for _, sec := range plan.Secrets {
		if sec.Skip == "" && sub.Approval == nil {
			sub.Approval = s.rs.approvalFor(ctx, access.ActionFailover, sec.Name)
		}
	}
	op, _, err := s.engine.Submit(ctx, sub)
	if err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	resp.Operation = operationToProto(op)
	return resp, nil
}

func (s *drService) Failback(ctx context.Context, req *replicadv1.FailbackRequest) (*replicadv1.FailbackResponse, error) {
	if err := s.rs.rules.Failback(req); err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	c := CallerFrom(ctx)
	id := uuid.MustParse(req.GetFailoverId())
	if s.rs.authz != nil {
		fo, err := s.engine.Get(ctx, id)
		if err != nil {
			return nil, s.rs.errs.toStatus(ctx, err)
		}
		if !s.rs.readable(ctx, fo) {
			return nil, s.rs.errs.toStatus(ctx, engine.ErrNotFound)
		}
	}
	mode := engine.FailbackReplicateOver
	if req.GetMode() == replicadv1.FailbackMode_FAILBACK_MODE_MOVE_PRIMARY_BACK {
		mode = engine.FailbackMovePrimaryBack
	}
	plan, err := s.engine.PlanFailback(ctx, c.Principal, id, mode, req.GetForce())
	if err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	regions := []string{plan.Source, plan.Target}
	planned := 0
	for _, sec := range plan.Secrets {
		if sec.Skip != "" {
			continue
		}
		planned++
		if err := authorize(ctx, s.rs.authz, access.ActionFailback, sec.SecretID, regions); err != nil {
			return nil, s.rs.errs.toStatus(ctx, err)
		}
	}
	resp := &replicadv1.FailbackResponse{Plan: drProgressToProto(&domain.DRProgress{Plan: plan})}
	if req.GetValidateOnly() {
		return resp, nil
	}
	if planned == 0 {
		return nil, s.rs.errs.toStatus(ctx, &validate.Error{Violations: []validate.Violation{{
			Field: "failover_id", Reason: "NOTHING_PLANNED",
			Description: "no secret of the failover can fail back: see the plan (validate_only) for why each is refused",
		}}})
	}
	sub := s.rs.submission(ctx, domain.KindFailback, "Failback", req, secretid.ID{}, req.GetRequestId(), req.GetReason(), nil)
	sub.AWSRegion, sub.Force, sub.DR = plan.Primary, req.GetForce(), &plan
	for _, sec := range plan.Secrets {
		if sec.Skip == "" && sub.Approval == nil {
			sub.Approval = s.rs.approvalFor(ctx, access.ActionFailback, sec.Name)
		}
	}
	op, _, err := s.engine.Submit(ctx, sub)
	if err != nil {
		return nil, s.rs.errs.toStatus(ctx, err)
	}
	resp.Operation = operationToProto(op)
	return resp, nil
}

var stepStateToProto = map[domain.StepState]replicadv1.DisasterRecoveryStepState{
	domain.StepPending:   replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_PENDING,
	domain.StepRunning:   replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_RUNNING,
	domain.StepSucceeded: replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_SUCCEEDED,
	domain.StepFailed:    replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_FAILED,
	domain.StepSkipped:   replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_SKIPPED,
}

func stepsToProto(steps []domain.Step) []*replicadv1.DisasterRecoveryStep {
	out := make([]*replicadv1.DisasterRecoveryStep, 0, len(steps))
	for _, st := range steps {
		p := &replicadv1.DisasterRecoveryStep{Api: st.API, Region: st.Region, State: stepStateToProto[st.State],
			RequestId: st.RequestID, Message: st.Message}
		for _, t := range st.Targets {
			p.TargetRegions = append(p.TargetRegions, t.Region)
		}
		out = append(out, p)
	}
	return out
}

// drProgressToProto is a plan with, once they exist, its children's
// states and steps, and the totals.
func drProgressToProto(p *domain.DRProgress) *replicadv1.DisasterRecoveryProgress {
	if p == nil {
		return nil
	}
	out := &replicadv1.DisasterRecoveryProgress{SourceRegion: p.Plan.Source, TargetRegion: p.Plan.Target,
		Total: int32(len(p.Plan.Secrets)), PlannedWrites: int32(p.Plan.Writes())}
	if p.Plan.Estimate > 0 {
		out.EstimatedDuration = durationpb.New(p.Plan.Estimate)
	}
	for _, sec := range p.Plan.Secrets {
		ps := &replicadv1.DisasterRecoverySecret{SecretId: sec.SecretID, SkipReason: sec.Skip, Steps: stepsToProto(sec.Steps)}
		if sec.Skip != "" {
			out.Skipped++
			out.Secrets = append(out.Secrets, ps)
			continue
		}
		child, ok := p.Children[sec.SecretID]
		switch {
		case !ok:
			out.Remaining++
		case child.State == domain.StateSucceeded:
			out.Succeeded++
		case child.State.Terminal():
			out.Failed++
		default:
			out.Remaining++
		}
		if ok {
			ps.OperationId, ps.State, ps.Steps = child.ID.String(), stateToProto[child.State], stepsToProto(child.Steps)
			if child.Error != nil {
				ps.Error = child.Error.Message
			}
		}
		out.Secrets = append(out.Secrets, ps)
	}
	return out
}
