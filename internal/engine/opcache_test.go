package engine

import (
	"testing"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
)

func TestOpCacheKeepsOnlyFinishedOperationsThatCannotChange(t *testing.T) {
	c := newOpCache(2)
	op := func(state domain.State) domain.Operation {
		return domain.Operation{ID: uuid.New(), State: state}
	}
	for _, tc := range []struct {
		name string
		op   domain.Operation
		keep bool
	}{
		{"pending", op(domain.StatePending), false},
		{"running", op(domain.StateRunning), false},
		{"awaiting approval", op(domain.StateAwaitingApproval), false},
		{"succeeded", op(domain.StateSucceeded), true},
		{"failed", op(domain.StateFailed), true},
		{"cancelled", op(domain.StateCancelled), true},
		{"failover parent", func() domain.Operation {
			o := op(domain.StateSucceeded)
			o.Params.DR = &domain.DRPlan{}
			return o
		}(), false},
		{"open AWS call", func() domain.Operation {
			o := op(domain.StateFailed)
			o.OpenCalls = []domain.AWSCall{{API: "ReplicateSecretToRegions", OutcomeUnknown: true}}
			return o
		}(), false},
	} {
		c.put(opKey{id: tc.op.ID}, tc.op)
		got, ok := c.get(opKey{id: tc.op.ID})
		if ok != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.name, ok, tc.keep)
		}
		if ok && got.ID != tc.op.ID {
			t.Errorf("%s: got operation %s", tc.name, got.ID)
		}
		if _, ok := c.get(opKey{id: tc.op.ID, summary: true}); ok {
			t.Errorf("%s: a full read answered for a summary", tc.name)
		}
	}
	if n := c.len(); n != 2 {
		t.Fatalf("cache holds %d entries, bound 2", n)
	}

	// Least recently used goes first.
	a, b, d := op(domain.StateSucceeded), op(domain.StateSucceeded), op(domain.StateSucceeded)
	c.put(opKey{id: a.ID}, a)
	c.put(opKey{id: b.ID}, b)
	c.get(opKey{id: a.ID})
	c.put(opKey{id: d.ID}, d)
	if _, ok := c.get(opKey{id: b.ID}); ok {
		t.Error("the least recently used entry was kept")
	}
	for _, o := range []domain.Operation{a, d} {
		if _, ok := c.get(opKey{id: o.ID}); !ok {
			t.Errorf("%s was dropped", o.ID)
		}
	}

	off := newOpCache(-1)
	off.put(opKey{id: a.ID}, a)
	if _, ok := off.get(opKey{id: a.ID}); ok {
		t.Error("a disabled cache kept an operation")
	}
}
