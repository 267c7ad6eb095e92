package domain

import (
	"time"

	"github.com/google/uuid"
)

// Kind is what an operation does.
type Kind string

// Operation kinds.
const (
	KindReplicate Kind = "replicate"
	KindRemove    Kind = "remove"
	KindPromote   Kind = "promote"
	// KindFailover is a Region failover: a parent operation (ParentID
	// unset) with one child operation (ParentID set) per planned secret.
	KindFailover Kind = "failover"
	// KindFailback is a failback to a Region that returned.
	KindFailback Kind = "failback"
)

// State is where an operation is in its life.
type State string

// Operation states. Succeeded, Failed and Cancelled are terminal.
const (
	StatePending   State = "pending"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
	// StateAwaitingApproval: accepted, waiting for a second person's
	// approval (or its expiry) before it joins its secret's queue.
	StateAwaitingApproval State = "awaiting_approval"
)

// Terminal reports whether no further change can happen.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// RegionState is the progress of one Region within an operation.
type RegionState string

// Region states.
const (
	RegionPending   RegionState = "pending"
	RegionRunning   RegionState = "running"
	RegionSucceeded RegionState = "succeeded"
	RegionFailed    RegionState = "failed"
	RegionSkipped   RegionState = "skipped"
	// RegionCancelled: the operation was cancelled before anything changed
	// in the Region.
	RegionCancelled RegionState = "cancelled"
	// RegionNotAttempted: the operation failed before it asked AWS
	// anything for the Region.
	RegionNotAttempted RegionState = "not_attempted"
)

// Terminal reports whether the Region's part is over. Once an operation
// has ended, every one of its Regions is in a terminal state.
func (s RegionState) Terminal() bool {
	return s != RegionPending && s != RegionRunning
}

// Mutation is where an operation's mutating AWS call stands: it decides
// whether a RUNNING operation may still be cancelled (AIP-151: best
// effort, between attempts, while AWS has not taken the call).
type Mutation string

// Mutation states.
const (
	// MutationNone: no mutating call has gone through; the last one, if
	// any, was refused with an answer from AWS.
	MutationNone Mutation = ""
	// MutationSending: an execution is sending it, or stopped without an
	// answer (a crash, a timeout): it may have gone through.
	MutationSending Mutation = "sending"
	// MutationApplied: AWS took the call.
	MutationApplied Mutation = "applied"
)

// Operation is an accepted Replicate, Remove or Promote request and where
// its execution stands.
type Operation struct {
	ID    uuid.UUID
	Seq   int64
	Kind  Kind
	State State
	// SecretKey serialises operations on one secret (secretid.ID.Key).
	SecretKey string
	// SecretDisplay is the secret id with its account id fingerprinted.
	SecretDisplay string
	// AWSRegion is where the mutating call goes.
	AWSRegion string
	// Params is what the worker needs; stored sealed.
	Params  Params
	Regions []RegionProgress
	Force   bool
	// Principal is who asked; RequestID/RequestHash implement AIP-155.
	Principal         string
	RequestID         string
	RequestHash       []byte
	ReasonFingerprint string
	// Labels maps label keys to fingerprints of their values.
	Labels map[string]string
	// Error is set when the operation FAILED or was CANCELLED.
	Error    *Error
	AWSCalls []AWSCall
	// OpenCalls are mutating AWS calls whose intent was recorded but whose
	// outcome was not: in flight, or cut off by a crash (each with
	// OutcomeUnknown set). They are read with the operation, never written
	// back with it: an execution adopts them into AWSCalls.
	OpenCalls []AWSCall
	Attempts  int
	// LastAttemptError is why the last attempt failed transiently (it was,
	// or is to be, retried); redacted.
	LastAttemptError *Error
	// NextAttemptAt is when the next attempt starts while the operation
	// waits to retry; zero otherwise.
	NextAttemptAt time.Time
	// RetryDeadline is when the operation stops retrying, set at its first
	// failed attempt; zero before.
	RetryDeadline time.Time
	// Mutation is where its mutating AWS call stands.
	Mutation Mutation
	// JobID is the queue job carrying the operation, 0 while it waits behind
	// an earlier operation on the same secret.
	JobID int64
	// TraceParent is the accepting request's W3C trace context.
	TraceParent string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	StartedAt   time.Time // zero while pending
	EndedAt     time.Time // zero until terminal
	// Approval is set when the access policy required a second person.
	Approval *Approval
	// OriginPolicy names the replication policy whose reconciliation
	// created the operation; "" for an interactive request.
	OriginPolicy string
	// ParentID is a failover child's parent operation.
	ParentID uuid.UUID
	// Steps are a failover child's AWS calls and their outcomes (targets'
	// KMS keys are in Params.Replicas, sealed).
	Steps []Step
	// DR is a failover parent's plan and progress, filled in by the engine
	// from its children when read.
	DR *DRProgress
}

// Approval is an operation's two-person approval: who asked, who may and
// did approve, until when, and whether break-glass released it instead.
type Approval struct {
	// Rule names the policy's approvals entry.
	Rule      string `json:"rule"`
	Requester string `json:"requester"`
	// ApproverGroups are the groups whose members may approve.
	ApproverGroups []string     `json:"approver_groups"`
	Approvals      []ApprovedBy `json:"approvals,omitempty"`
	ExpiresAt      time.Time    `json:"expires_at"`
	// BreakGlass: released at acceptance by a break-glass token.
	BreakGlass bool `json:"break_glass,omitempty"`
}

// ApprovedBy is one approval given.
type ApprovedBy struct {
	Principal string    `json:"principal"`
	Time      time.Time `json:"time"`
}

// Params are the request values a worker needs, sealed at rest because ARNs
// carry account ids.
type Params struct {
	SecretID string         `json:"secret_id"`
	Replicas []ReplicaParam `json:"replicas,omitempty"`
	// DR is a failover parent's plan, as shown before it ran.
	DR *DRPlan `json:"dr,omitempty"`
	// ReplaceKMSKey (Replicate): a replica under another key is removed and
	// added again under the requested key, instead of failing the
	// operation.
	ReplaceKMSKey bool `json:"replace_kms_key,omitempty"`
}

// ReplicaParam is one requested Region and, for Replicate, its KMS key.
type ReplicaParam struct {
	Region   string `json:"region"`
	KMSKeyID string `json:"kms_key_id,omitempty"`
}

// RegionProgress is one Region's part of an operation.
type RegionProgress struct {
	Region            string      `json:"region"`
	State             RegionState `json:"state"`
	ReplicationStatus string      `json:"replication_status,omitempty"` // AWS's InProgress/InSync/Failed
	Message           string      `json:"message,omitempty"`
	// KeyReplace is where a replacement of the replica's KMS key stands
	// (Replicate with ReplaceKMSKey); empty when the Region is not having
	// its key replaced. It is saved before each of its AWS calls, so an
	// execution resumed after a crash knows which call to make next.
	KeyReplace KeyReplace `json:"key_replace,omitempty"`
	// ReplacedKMSKey is the key the replaced replica had, redacted: for
	// the Region's messages only.
	ReplacedKMSKey string `json:"replaced_kms_key,omitempty"`
}

// KeyReplace is a step of replacing a replica's KMS key.
type KeyReplace string

// Key replacement steps.
const (
	// KeyReplaceRemoving: the replica under the old key is to be removed
	// (RemoveRegionsFromReplication may have been sent).
	KeyReplaceRemoving KeyReplace = "removing"
	// KeyReplaceReadding: the old replica is gone; the Region is to be
	// added again under the requested key (ReplicateSecretToRegions may
	// have been sent). A replica found in this step is never removed
	// again, whatever key it reports.
	KeyReplaceReadding KeyReplace = "readding"
)

// Error is why an operation failed or was cancelled: a canonical code and
// a redacted message.
type Error struct {
	Code    Code
	Message string
}

// AWSCall records one Secrets Manager call attempt.
type AWSCall struct {
	API       string    `json:"api"`
	Region    string    `json:"region"`
	RequestID string    `json:"request_id,omitempty"`
	ErrorCode string    `json:"error_code,omitempty"`
	Time      time.Time `json:"time"`
	// OutcomeUnknown: the call was sent (its intent recorded first) but no
	// answer was recorded — the process died, or its context ended, in
	// between. Whether it took effect was decided afterwards from
	// DescribeSecret, never by sending it again blindly.
	OutcomeUnknown bool `json:"outcome_unknown,omitempty"`
}

// Intent is the write-ahead record of one mutating AWS call, stored before
// the call is sent.
type Intent struct {
	ID          uuid.UUID
	OperationID uuid.UUID
	API, Region string
	// Targets are the Regions the call names.
	Targets   []string
	StartedAt time.Time
}

// OperationFilter selects operations to list.
type OperationFilter struct {
	// SecretKey, if set, keeps operations on that secret.
	SecretKey string
	// State, if set, keeps operations in that state.
	State State
	// BeforeSeq, if set, keeps operations accepted before that one (the
	// keyset cursor of AIP-158 pagination).
	BeforeSeq int64
	// Limit is the most operations to return.
	Limit int
}

// AuditFilter selects audit events to list. Every set field must match.
type AuditFilter struct {
	// Start and End bound the event time: Start <= time < End.
	Start, End time.Time
	Principal  string
	// SecretID is the secret as the caller named it (a name or an ARN);
	// the audit trail matches it in the redacted form events record.
	SecretID string
	// Methods: any of these full gRPC methods or AWS API names.
	Methods []string
	// Code, if set, is the outcome's gRPC code.
	Code *int32
	// Kind is "rpc" or "aws_call"; empty means both.
	Kind        string
	OperationID uuid.UUID
	// BeforeSeq is the keyset cursor of AIP-158 pagination.
	BeforeSeq int64
	Limit     int
}
