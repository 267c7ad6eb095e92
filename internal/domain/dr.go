package domain

// StepState is where one step of a failover or failback child is.
type StepState int

// Step states. A step is RUNNING from the moment its intent is recorded,
// before its AWS call is sent: after a crash a RUNNING step is re-decided
// from a DescribeSecret in its own Region, never blindly re-sent.
const (
	StepPending StepState = iota + 1
	StepRunning
	StepSucceeded
	StepFailed
	StepSkipped
)

// Step is one AWS call of a failover or failback child operation.
type Step struct {
	// API is the Secrets Manager action, such as StopReplicationToReplica.
	API string
	// Region is where the call is sent: always a Region that is up.
	Region string
	// Targets are the Regions a ReplicateSecretToRegions names, each with
	// the KMS key it had before, so a failover keeps every Region's key.
	Targets []ReplicaParam
	State   StepState
	// RequestID is AWS's request id, once a response arrived.
	RequestID string
	// Message is AWS's error code or why the step was skipped.
	Message string
}

// Step APIs.
const (
	APIStopReplication = "StopReplicationToReplica"
	APIReplicate       = "ReplicateSecretToRegions"
	APIRemoveRegions   = "RemoveRegionsFromReplication"
)
