package engine

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestWaitersBackOffAndPaceReads(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		age     time.Duration
		waiting int
		rate    float64
		want    time.Duration
	}{
		{"young operation looks soon", 0, 0, 100, 200 * time.Millisecond},
		{"a quarter of its age", 8 * time.Second, 0, 100, 2 * time.Second},
		{"capped", time.Minute, 0, 100, 5 * time.Second},
		{"many waits stretch the interval to the read rate", time.Minute, 999, 100, 10 * time.Second},
		{"unbounded rate", time.Minute, 999, -1, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWaiters()
			for range tt.waiting {
				w.next[uuid.New()] = wait{at: now, budget: "a/us-east-1"}
				// Waits on another budget do not count.
				w.next[uuid.New()] = wait{at: now, budget: "a/eu-west-1"}
			}
			id := uuid.New()
			if got := w.delay(id, "a/us-east-1", now, now.Add(-tt.age), 200*time.Millisecond, 5*time.Second, tt.rate); got != tt.want {
				t.Errorf("delay = %s, want %s", got, tt.want)
			}
			w.done(id)
			if w.count() != 2*tt.waiting {
				t.Errorf("count after done = %d, want %d", w.count(), 2*tt.waiting)
			}
		})
	}
	w := newWaiters()
	w.next[uuid.New()] = wait{at: now.Add(-time.Minute), budget: "a/us-east-1"}
	w.delay(uuid.New(), "a/us-east-1", now, now, time.Second, time.Second, 1)
	if w.count() != 1 {
		t.Errorf("a stale wait was still counted: %d", w.count())
	}
}
