package replictl_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/replictl"
	"github.com/replicad/replicad/internal/standin"
)

// TestWaitAndGetShowRetrying (issue 12 item 10): while AWS keeps refusing
// an operation's call, --wait says why, which attempt, when the next one
// starts and until when it retries; once --retry-for is spent the
// operation ends FAILED with the last error, and operations get shows the
// last attempt's error and the retry deadline.
func TestWaitAndGetShowRetrying(t *testing.T) {
	t.Parallel()
	f := start(t, func(c *daemon.Config) {
		c.AWS.MaxAttempts = 1
		c.Engine.Queue.RetryBase = 200 * time.Millisecond
		c.Engine.Queue.RetryMax = 400 * time.Millisecond
		c.Engine.Queue.MaxAttempts = 1000
		// Long enough for --wait (polling every 100 ms) to see several
		// 200-400 ms backoffs; the test waits all of it out.
		c.Engine.RetryFor = 1500 * time.Millisecond
	})
	name := f.seed(t, "app/retrying")
	if err := f.standin.SetFaults(standin.Faults{FailingAPIs: []string{"ReplicateSecretToRegions"}}); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, "replicate", name, "--region", "eu-west-3", "--wait")
	if r.code == replictl.ExitOK {
		t.Fatalf("exit 0 for an operation AWS kept refusing")
	}
	id := opID(t, r.stdout)
	retryLine := regexp.MustCompile(`attempt \d+ failed: UNAVAILABLE: ReplicateSecretToRegions in us-east-1 failed: InternalServiceError: [^;]+; ` +
		`next attempt at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, retrying until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	if !retryLine.MatchString(r.stdout) {
		t.Errorf("--wait never showed the retry (error, attempt, next attempt, deadline):\n%s", r.stdout)
	}
	for _, want := range []string{
		"operation " + id + ": FAILED",
		"eu-west-3 FAILED",
		"error: UNAVAILABLE: gave up at its retry deadline",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--wait output lacks %q", want)
		}
	}

	got := f.run(t, "operations", "get", id)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`state +FAILED`),
		regexp.MustCompile(`last attempt error +UNAVAILABLE: ReplicateSecretToRegions in us-east-1 failed: InternalServiceError`),
		regexp.MustCompile(`retry deadline +\d{4}-\d\d-\d\dT`),
		regexp.MustCompile(`eu-west-3 +FAILED`),
	} {
		if !want.MatchString(got.stdout) {
			t.Errorf("operations get lacks %s", want)
		}
	}
	if strings.Contains(got.stdout, "next attempt ") {
		t.Errorf("a FAILED operation shows a next attempt:\n%s", got.stdout)
	}
}
