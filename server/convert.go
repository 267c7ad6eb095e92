package server

import (
	"time"

	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/replicad/replicad/awssm"
	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/store"
)

var (
	kindToProto = map[store.Kind]replicadv1.OperationKind{
		store.KindReplicate: replicadv1.OperationKind_OPERATION_KIND_REPLICATE,
		store.KindRemove:    replicadv1.OperationKind_OPERATION_KIND_REMOVE,
		store.KindPromote:   replicadv1.OperationKind_OPERATION_KIND_PROMOTE,
	}
	stateToProto = map[store.State]replicadv1.OperationState{
		store.StatePending:   replicadv1.OperationState_OPERATION_STATE_PENDING,
		store.StateRunning:   replicadv1.OperationState_OPERATION_STATE_RUNNING,
		store.StateSucceeded: replicadv1.OperationState_OPERATION_STATE_SUCCEEDED,
		store.StateFailed:    replicadv1.OperationState_OPERATION_STATE_FAILED,
		store.StateCancelled: replicadv1.OperationState_OPERATION_STATE_CANCELLED,
	}
	regionStateToProto = map[store.RegionState]replicadv1.RegionState{
		store.RegionPending:   replicadv1.RegionState_REGION_STATE_PENDING,
		store.RegionRunning:   replicadv1.RegionState_REGION_STATE_RUNNING,
		store.RegionSucceeded: replicadv1.RegionState_REGION_STATE_SUCCEEDED,
		store.RegionFailed:    replicadv1.RegionState_REGION_STATE_FAILED,
		store.RegionSkipped:   replicadv1.RegionState_REGION_STATE_SKIPPED,
	}
	replicationStatusToProto = map[string]replicadv1.ReplicationStatus{
		string(awssm.StatusInProgress): replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS,
		string(awssm.StatusInSync):     replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC,
		string(awssm.StatusFailed):     replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED,
	}
)

// stateFromProto maps a filter state; UNSPECIFIED is "" (any).
func stateFromProto(s replicadv1.OperationState) store.State {
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
func operationToProto(op store.Operation) *replicadv1.Operation {
	kms := map[string]string{}
	for _, p := range op.Params.Replicas {
		kms[p.Region] = p.KMSKeyID
	}
	out := &replicadv1.Operation{
		Id:                op.ID.String(),
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
		out.Error = &statuspb.Status{Code: op.Error.Code, Message: op.Error.Message}
	}
	for _, c := range op.AWSCalls {
		out.AwsCalls = append(out.AwsCalls, &replicadv1.AwsCall{
			Api: c.API, Region: c.Region, RequestId: c.RequestID, ErrorCode: c.ErrorCode, Time: ts(c.Time),
		})
	}
	return out
}

func secretToProto(sec awssm.Secret) *replicadv1.StatusResponse {
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
