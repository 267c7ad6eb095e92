package server

import (
	"time"

	"github.com/google/uuid"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/domain"
)

var (
	kindToProto = map[domain.Kind]replicadv1.OperationKind{
		domain.KindReplicate: replicadv1.OperationKind_OPERATION_KIND_REPLICATE,
		domain.KindRemove:    replicadv1.OperationKind_OPERATION_KIND_REMOVE,
		domain.KindPromote:   replicadv1.OperationKind_OPERATION_KIND_PROMOTE,
		domain.KindFailover:  replicadv1.OperationKind_OPERATION_KIND_FAILOVER,
		domain.KindFailback:  replicadv1.OperationKind_OPERATION_KIND_FAILBACK,
	}
	stateToProto = map[domain.State]replicadv1.OperationState{
		domain.StatePending:   replicadv1.OperationState_OPERATION_STATE_PENDING,
		domain.StateRunning:   replicadv1.OperationState_OPERATION_STATE_RUNNING,
		domain.StateSucceeded: replicadv1.OperationState_OPERATION_STATE_SUCCEEDED,
		domain.StateFailed:    replicadv1.OperationState_OPERATION_STATE_FAILED,
		domain.StateCancelled: replicadv1.OperationState_OPERATION_STATE_CANCELLED,

		domain.StateAwaitingApproval: replicadv1.OperationState_OPERATION_STATE_AWAITING_APPROVAL,
	}
	regionStateToProto = map[domain.RegionState]replicadv1.RegionState{
		domain.RegionPending:   replicadv1.RegionState_REGION_STATE_PENDING,
		domain.RegionRunning:   replicadv1.RegionState_REGION_STATE_RUNNING,
		domain.RegionSucceeded: replicadv1.RegionState_REGION_STATE_SUCCEEDED,
		domain.RegionFailed:    replicadv1.RegionState_REGION_STATE_FAILED,
		domain.RegionSkipped:   replicadv1.RegionState_REGION_STATE_SKIPPED,

		domain.RegionCancelled:    replicadv1.RegionState_REGION_STATE_CANCELLED,
		domain.RegionNotAttempted: replicadv1.RegionState_REGION_STATE_NOT_ATTEMPTED,
	}
	replicationStatusToProto = map[string]replicadv1.ReplicationStatus{
		string(domain.StatusInProgress): replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS,
		string(domain.StatusInSync):     replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC,
		string(domain.StatusFailed):     replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED,
	}
)

// stateFromProto maps a filter state; UNSPECIFIED is "" (any).
func stateFromProto(s replicadv1.OperationState) domain.State {
	for k, v := range stateToProto {
		if v == s {
			return k
		}
	}
	return ""
}

// operationToProto renders an operation for its caller. The caller asked
// for it, so the secret id and KMS keys appear as given; only the request's
// sensitive free text (reason, label values) stays fingerprinted, because it
// is never stored in clear.
func operationToProto(op domain.Operation) *replicadv1.Operation {
	kms := map[string]string{}
	for _, p := range op.Params.Replicas {
		kms[p.Region] = p.KMSKeyID
	}
	id := op.ID.String()
	if op.ID == uuid.Nil {
		id = "" // a validate_only preview: never stored, so no id
	}
	out := &replicadv1.Operation{
		Id:                id,
		Kind:              kindToProto[op.Kind],
		State:             stateToProto[op.State],
		SecretId:          op.Params.SecretID,
		AwsRegion:         op.AWSRegion,
		RequestId:         op.RequestID,
		Principal:         op.Principal,
		ReasonFingerprint: op.ReasonFingerprint,
		Force:             op.Force,
		Attempts:          int32(op.Attempts),
		CreateTime:        ts(op.CreatedAt),
		UpdateTime:        ts(op.UpdatedAt),
		StartTime:         ts(op.StartedAt),
		EndTime:           ts(op.EndedAt),
		Labels:            op.Labels,
		Approval:          approvalToProto(op.Approval),
		DisasterRecovery:  drProgressToProto(op.DR),
		NextAttemptTime:   ts(op.NextAttemptAt),
		RetryDeadline:     ts(op.RetryDeadline),
		OriginPolicy:      op.OriginPolicy,
	}
	if e := op.LastAttemptError; e != nil {
		// Already redacted by the engine, like error.
		out.LastAttemptError = &statuspb.Status{Code: int32(grpcCode(e.Code)), Message: e.Message}
	}
	if op.Steps != nil {
		out.Steps = stepsToProto(op.Steps)
	}
	if op.ParentID != uuid.Nil {
		out.ParentId = op.ParentID.String()
	}
	for _, r := range op.Regions {
		out.Regions = append(out.Regions, &replicadv1.RegionProgress{
			Region:            r.Region,
			KmsKeyId:          kms[r.Region],
			State:             regionStateToProto[r.State],
			ReplicationStatus: replicationStatusToProto[r.ReplicationStatus],
			Message:           r.Message,
		})
	}
	if op.Error != nil {
		out.Error = &statuspb.Status{Code: int32(grpcCode(op.Error.Code)), Message: op.Error.Message}
	}
	for _, c := range append(op.AWSCalls[:len(op.AWSCalls):len(op.AWSCalls)], op.OpenCalls...) {
		out.AwsCalls = append(out.AwsCalls, &replicadv1.AwsCall{
			Api: c.API, Region: c.Region, RequestId: c.RequestID, ErrorCode: c.ErrorCode, Time: ts(c.Time),
			OutcomeUnknown: c.OutcomeUnknown,
		})
	}
	return out
}

func secretToProto(sec domain.Secret) *replicadv1.StatusResponse {
	out := &replicadv1.StatusResponse{Arn: sec.ARN, Name: sec.Name, PrimaryRegion: sec.PrimaryRegion}
	for _, r := range sec.Replicas {
		out.Replicas = append(out.Replicas, &replicadv1.ReplicaStatus{
			Region:           r.Region,
			KmsKeyId:         r.KMSKeyID,
			Status:           replicationStatusToProto[string(r.Status)],
			StatusMessage:    r.StatusMessage,
			LastAccessedTime: ts(r.LastAccessed),
		})
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func microseconds(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
