package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/domain"
)

func TestStatusCacheKeepsOnlyWhatReplicadDidNotChange(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int32
	answer := func(region string) func(context.Context) (domain.Secret, error) {
		return func(context.Context) (domain.Secret, error) {
			calls.Add(1)
			return domain.Secret{PrimaryRegion: region}, nil
		}
	}
	c := newStatusCache(time.Hour)
	get := func(notBefore time.Time) domain.Secret {
		t.Helper()
		sec, err := c.get(ctx, "s", "s", "us-east-1", notBefore, answer("us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}
	get(time.Time{})
	get(time.Time{})
	if calls.Load() != 1 {
		t.Fatalf("a fresh answer was not reused: %d calls", calls.Load())
	}
	// An operation updated after the answer was fetched (in any process).
	get(time.Now().Add(time.Millisecond))
	if calls.Load() != 2 {
		t.Fatalf("an answer older than an operation's update was reused: %d calls", calls.Load())
	}
	c.invalidate("s")
	get(time.Time{})
	if calls.Load() != 3 {
		t.Fatalf("an invalidated answer was reused: %d calls", calls.Load())
	}

	// A call in flight when the secret is invalidated answers its caller
	// but is not kept.
	release := make(chan struct{})
	done := make(chan struct{})
	c.invalidate("s")
	go func() {
		defer close(done)
		_, _ = c.get(ctx, "s", "s", "us-east-1", time.Time{}, func(context.Context) (domain.Secret, error) {
			calls.Add(1)
			<-release
			return domain.Secret{}, nil
		})
	}()
	for calls.Load() != 4 {
		time.Sleep(time.Millisecond)
	}
	c.invalidate("s")
	close(release)
	<-done
	get(time.Time{})
	if calls.Load() != 5 {
		t.Fatalf("an answer in flight across an invalidation was kept: %d calls", calls.Load())
	}

	// Errors are not kept.
	c.invalidate("s")
	boom := errors.New("boom")
	if _, err := c.get(ctx, "s", "s", "us-east-1", time.Time{}, func(context.Context) (domain.Secret, error) { return domain.Secret{}, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	get(time.Time{})
	if calls.Load() != 6 {
		t.Fatalf("an error was kept: %d calls", calls.Load())
	}

	// Expired answers are not reused; a disabled cache always calls.
	short := newStatusCache(time.Nanosecond)
	for range 2 {
		if _, err := short.get(ctx, "s", "s", "us-east-1", time.Time{}, answer("us-east-1")); err != nil {
			t.Fatal(err)
		}
	}
	off := newStatusCache(-1)
	for range 2 {
		if _, err := off.get(ctx, "s", "s", "us-east-1", time.Time{}, answer("us-east-1")); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 10 {
		t.Fatalf("expired or disabled: %d calls, want 10", calls.Load())
	}
	if c.size != len(c.bySecret["s"]) {
		t.Fatalf("size %d, entries %d", c.size, len(c.bySecret["s"]))
	}
}
