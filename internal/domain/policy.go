package domain

import "time"

// PolicyMode says what a replication policy does about drift.
type PolicyMode string

// Policy modes.
const (
	// PolicyEnforce creates operations to fix drift.
	PolicyEnforce PolicyMode = "ENFORCE"
	// PolicyReport only reports drift.
	PolicyReport PolicyMode = "REPORT"
)

// DefaultWriteBudgetShare is a policy's share of each write budget when it
// names none: half, the other half left to interactive requests.
const DefaultWriteBudgetShare = 0.5

// Policy is a fleet replication policy (issue 14): a selector over the
// inventory and the replication every selected secret must have.
type Policy struct {
	Name     string         `json:"-"`
	Selector PolicySelector `json:"selector"`
	// Replicas are the desired Regions, each with its KMS key ("" for the
	// AWS managed key), in the order given.
	Replicas []ReplicaParam `json:"replicas"`
	Mode     PolicyMode     `json:"mode"`
	// RetryFailed re-replicates Failed replicas; ForceOverwrite lets those
	// retries overwrite a same-named secret in the Region.
	RetryFailed    bool `json:"retry_failed,omitempty"`
	ForceOverwrite bool `json:"force_overwrite,omitempty"`
	// Prune removes replicas in Regions the policy does not list.
	Prune bool `json:"prune,omitempty"`
	// RecreateOnKMSChange removes and re-adds a replica whose key differs.
	RecreateOnKMSChange bool `json:"recreate_on_kms_change,omitempty"`
	// WriteBudgetShare is the share of each (account, Region) write budget
	// the policy's operations may use, in (0, 1].
	WriteBudgetShare float64 `json:"write_budget_share"`

	ETag      string    `json:"-"`
	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
	UpdatedBy string    `json:"-"`
}

// Principal is who the policy's operations are attributed to.
func (p Policy) Principal() string { return PolicyPrincipal(p.Name) }

// PolicyPrincipal is the principal of the policy named name.
func PolicyPrincipal(name string) string { return "policy/" + name }

// PolicySelector selects inventory secrets: every set field must match, a
// list when any of its entries does.
type PolicySelector struct {
	Accounts         []string          `json:"accounts,omitempty"`
	PrimaryRegions   []string          `json:"primary_regions,omitempty"`
	NameGlobs        []string          `json:"name_globs,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	ExcludeNameGlobs []string          `json:"exclude_name_globs,omitempty"`
	// SelectAll must be set for a selector without name globs or tags.
	SelectAll bool `json:"select_all,omitempty"`
}

// DriftFinding is one difference between a secret and its policy, as the
// API reports it (package drift classifies).
type DriftFinding struct {
	// Kind is a drift.Kind name, such as MISSING_REGION.
	Kind   string
	Region string
	// Message is AWS's status message for a Failed replica, redacted.
	Message string
}

// PlannedOperation is an operation reconciliation would create.
type PlannedOperation struct {
	Kind     Kind
	Replicas []ReplicaParam
	Force    bool
}

// PlannedSecret is one selected secret with drift in a plan.
type PlannedSecret struct {
	ARN, Name, PrimaryRegion string
	Drifts                   []DriftFinding
	Operations               []PlannedOperation
	// InConflict: another policy selects the secret with different
	// desires (ConflictsWith); nothing runs for it.
	InConflict    bool
	ConflictsWith []string
}

// PolicyPlan is what a policy would do now, computed from the inventory
// without changing anything.
type PolicyPlan struct {
	Selected, Compliant, InConflict int
	// Secrets are the selected secrets with drift or in conflict, up to the
	// plan's limit, in inventory order.
	Secrets []PlannedSecret
	// OperationCount operations needing WriteCalls AWS write calls.
	OperationCount, WriteCalls int
	// ETA is the estimated time to compliance at the policy's share of the
	// write budget (zero when nothing is to be done).
	ETA time.Duration
	// Warnings are non-fatal findings (a glob matching nothing).
	Warnings []string
	// DriftCounts counts selected secrets by drift kind.
	DriftCounts map[string]int
}

// PolicyStatus is a policy's progress towards compliance.
type PolicyStatus struct {
	Policy                          Policy
	Selected, Compliant, InConflict int
	// Unfixable counts secrets with drift the policy does not fix.
	Unfixable int
	// Drifted counts selected secrets by drift kind.
	Drifted map[string]int
	// Operations counts the policy's operations by state: active ones, and
	// finished ones since the policy last changed.
	Operations map[State]int
	ETA        time.Duration
	ReadAt     time.Time
}
