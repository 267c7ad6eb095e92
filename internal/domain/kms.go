package domain

// KMSKey is a KMS key as KMS describes it in one Region: its key id and
// key ARN (which holds the account, so callers fingerprint it before
// showing it).
type KMSKey struct {
	ID, ARN string
	// State is KMS's KeyState: Enabled, Disabled, PendingDeletion...
	State string
}
