package domain

import "time"

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
	API string `json:"api"`
	// Region is where the call is sent: always a Region that is up.
	Region string `json:"region"`
	// Targets are the Regions a ReplicateSecretToRegions names, each with
	// the KMS key it had before, so a failover keeps every Region's key.
	Targets []ReplicaParam `json:"targets,omitempty"`
	State   StepState      `json:"state"`
	// RequestID is AWS's request id, once a response arrived.
	RequestID string `json:"request_id,omitempty"`
	// Message is AWS's error code or why the step was skipped.
	Message string `json:"message,omitempty"`
}

// Step APIs.
const (
	APIStopReplication = "StopReplicationToReplica"
	APIReplicate       = "ReplicateSecretToRegions"
	APIRemoveRegions   = "RemoveRegionsFromReplication"
)

// DRPlan is a failover's plan: every selected secret with its steps or why
// it is skipped. It is stored sealed with the parent (ARNs and KMS keys).
type DRPlan struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Primary is where the children's secrets are primary while they run:
	// the target of a failover (empty), the current primary's Region of a
	// failback.
	Primary string     `json:"primary,omitempty"`
	Force   bool       `json:"force,omitempty"`
	Secrets []DRSecret `json:"secrets"`
	// Estimate is the budget-bound time of the plan's writes when it was
	// made (zero: the write budget is unbounded).
	Estimate time.Duration `json:"estimate,omitempty"`
}

// DRSecret is one secret of a plan.
type DRSecret struct {
	// SecretID is the secret's ARN in the source Region.
	SecretID string `json:"secret_id"`
	// Name is the secret's name: its queue key.
	Name string `json:"name"`
	// Skip is why it is left out ("" when planned).
	Skip  string `json:"skip,omitempty"`
	Steps []Step `json:"steps,omitempty"`
}

// ChildPrimary is the Region the children name their secret in.
func (p DRPlan) ChildPrimary() string {
	if p.Primary != "" {
		return p.Primary
	}
	return p.Target
}

// Writes counts the mutating AWS calls the plan makes.
func (p DRPlan) Writes() int {
	n := 0
	for _, s := range p.Secrets {
		n += len(s.Steps)
	}
	return n
}

// WritesByBudget counts the planned writes per (account, Region): the
// unit of AWS's write quota and of replicad's budgets.
func (p DRPlan) WritesByBudget() map[[2]string]int {
	out := map[[2]string]int{}
	for _, s := range p.Secrets {
		account := AccountOfARN(s.SecretID)
		for _, st := range s.Steps {
			out[[2]string{account, st.Region}]++
		}
	}
	return out
}

// DRProgress is a failover parent's plan with each secret's child.
type DRProgress struct {
	Plan DRPlan
	// Children maps a planned secret's SecretID to its child, once created.
	Children map[string]Operation
}
