package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

// An intent without an outcome is read with its operation (Get and List) as
// a call of unknown outcome; completing or adopting it takes it out; an
// adopted intent is not completed afterwards by a late answer.
func TestIntentsAreReadWithTheirOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := secretKey(t)
	op := b.insert(t, key, nil)
	started := time.Now().Add(-time.Second).Truncate(time.Microsecond)
	open := func() []domain.AWSCall {
		t.Helper()
		got, err := b.st.Get(b.ctx, b.tx, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		listed, err := b.st.List(b.ctx, b.tx, domain.OperationFilter{SecretKey: key, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 1 || len(listed[0].OpenCalls) != len(got.OpenCalls) {
			t.Fatalf("List and Get disagree on open calls: %+v vs %+v", listed, got.OpenCalls)
		}
		return got.OpenCalls
	}
	if calls := open(); len(calls) != 0 {
		t.Fatalf("open calls before any intent: %+v", calls)
	}
	first := domain.Intent{ID: uuid.Must(uuid.NewV7()), OperationID: op.ID, API: domain.APIReplicate, Region: "us-east-1",
		Targets: []string{"eu-west-1"}, StartedAt: started}
	second := domain.Intent{ID: uuid.Must(uuid.NewV7()), OperationID: op.ID, API: domain.APIRemoveRegions, Region: "us-east-1",
		StartedAt: started.Add(time.Millisecond)}
	for _, in := range []domain.Intent{first, second} {
		if err := store.InsertIntent(b.ctx, b.tx, in); err != nil {
			t.Fatal(err)
		}
	}
	calls := open()
	if len(calls) != 2 || calls[0].API != domain.APIReplicate || calls[1].API != domain.APIRemoveRegions ||
		!calls[0].OutcomeUnknown || calls[0].Region != "us-east-1" || !calls[0].Time.Equal(started) {
		t.Fatalf("open calls %+v", calls)
	}
	if err := store.CompleteIntent(b.ctx, b.tx, first.ID, store.OutcomeSucceeded, "rid-1", ""); err != nil {
		t.Fatal(err)
	}
	if calls := open(); len(calls) != 1 || calls[0].API != domain.APIRemoveRegions {
		t.Fatalf("after completing the first: %+v", calls)
	}
	if err := store.AdoptOpenIntents(b.ctx, b.tx, op.ID); err != nil {
		t.Fatal(err)
	}
	if calls := open(); len(calls) != 0 {
		t.Fatalf("after adoption: %+v", calls)
	}
	// The answer of an adopted call arriving late changes nothing.
	if err := store.CompleteIntent(b.ctx, b.tx, second.ID, store.OutcomeSucceeded, "rid-2", ""); err != nil {
		t.Fatal(err)
	}
	var outcome string
	if err := b.tx.QueryRow(b.ctx, `SELECT outcome FROM aws_call_intents WHERE id = $1`, second.ID).Scan(&outcome); err != nil {
		t.Fatal(err)
	}
	if outcome != "unknown" {
		t.Errorf("adopted intent's outcome %q, want unknown", outcome)
	}
}
