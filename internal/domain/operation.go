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
