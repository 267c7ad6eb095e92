package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

// TestPolicyOperationsAreNeverDuplicated: at most one active operation of
// a kind per (policy, secret), whoever inserts it; another kind, another
// policy, an interactive operation, or the same once the first ended, are
// all accepted. This is what keeps several processes and restarts from
// creating a second operation for the same drift.
func TestPolicyOperationsAreNeverDuplicated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := secretKey(t)
	first := b.insert(t, key, func(op *domain.Operation) { op.OriginPolicy = "p" })
	dup := domain.Operation{ID: uuid.Must(uuid.NewV7()), Kind: domain.KindReplicate, State: domain.StatePending, SecretKey: key,
		Params: domain.Params{SecretID: key}, Principal: "policy/p", OriginPolicy: "p", AWSRegion: "us-east-1"}
	// In a savepoint: the refused insert aborts only its own statement.
	sp, err := b.tx.Begin(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.Insert(b.ctx, sp, &dup); !errors.Is(err, store.ErrDuplicatePolicyOperation) {
		t.Fatalf("second active operation of the policy: %v, want ErrDuplicatePolicyOperation", err)
	}
	_ = sp.Rollback(b.ctx)
	b.insert(t, key, func(op *domain.Operation) { op.OriginPolicy, op.Kind = "p", domain.KindRemove })
	b.insert(t, key, func(op *domain.Operation) { op.OriginPolicy = "q" })
	b.insert(t, key, nil)
	b.insert(t, key, nil)

	first.State, first.EndedAt = domain.StateSucceeded, time.Now()
	if err := b.st.Update(b.ctx, b.tx, &first); err != nil {
		t.Fatal(err)
	}
	again := b.insert(t, key, func(op *domain.Operation) { op.OriginPolicy = "p" })
	got, err := b.st.Get(b.ctx, b.tx, again.ID)
	if err != nil || got.OriginPolicy != "p" {
		t.Fatalf("origin policy round trip: %q %v", got.OriginPolicy, err)
	}
	acts, err := store.PolicyActivities(b.ctx, b.tx, "p")
	if err != nil {
		t.Fatal(err)
	}
	a := acts[key]
	if a == nil || !a.Active[domain.KindReplicate] || !a.Active[domain.KindRemove] || a.LastEnded.IsZero() {
		t.Errorf("activity: %+v", a)
	}
}

// TestPolicyStoreETag: updates and deletes apply only with the stored etag.
func TestPolicyStoreETag(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := "etag-" + uuid.NewString()[:8]
	p := domain.Policy{Name: name, Mode: domain.PolicyReport, ETag: "e1", UpdatedBy: "alice",
		Selector: domain.PolicySelector{NameGlobs: []string{"a/**"}}, Replicas: []domain.ReplicaParam{{Region: "eu-west-1"}}}
	if err := b.st.InsertPolicy(b.ctx, b.tx, &p); err != nil {
		t.Fatal(err)
	}
	p.ETag = "e2"
	if err := b.st.UpdatePolicy(b.ctx, b.tx, &p, "stale"); !errors.Is(err, store.ErrPolicyETag) {
		t.Fatalf("update with a stale etag: %v", err)
	}
	if err := b.st.UpdatePolicy(b.ctx, b.tx, &p, "e1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.DeletePolicy(b.ctx, b.tx, name, "e1"); !errors.Is(err, store.ErrPolicyETag) {
		t.Fatalf("delete with a stale etag: %v", err)
	}
	got, err := b.st.GetPolicy(b.ctx, b.tx, name)
	if err != nil || got.ETag != "e2" || got.Selector.NameGlobs[0] != "a/**" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := b.st.DeletePolicy(b.ctx, b.tx, name, "e2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.GetPolicy(b.ctx, b.tx, name); !errors.Is(err, store.ErrPolicyNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
