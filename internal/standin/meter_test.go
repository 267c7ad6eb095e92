package standin

import (
	"testing"
	"time"
)

// fakeClock hands the meter exact request times.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestMeter() (*meter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newMeter()
	m.now = c.now
	return m, c
}

// A client sending exactly N evenly spaced requests per second, for several
// seconds, is never refused by a budget of N: the budget promise at its edge.
func TestBudgetExactlyAtRateIsNeverThrottled(t *testing.T) {
	t.Parallel()
	for _, budget := range []int{1, 3, 10, 50} {
		m, c := newTestMeter()
		// Rounded up: 3 gaps of 333333333ns would put 4 requests in 1s.
		gap := (time.Second + time.Duration(budget) - 1) / time.Duration(budget)
		for i := range 5 * budget {
			if !m.admit("us-east-1", "ReplicateSecretToRegions", classWrite, budget) {
				t.Fatalf("budget %d: request %d at %v refused", budget, i, c.t)
			}
			c.t = c.t.Add(gap)
		}
		w := m.snapshot().Region("us-east-1").Writes
		if w.MaxAdmittedPerSecond != budget || w.MaxPerSecond != budget {
			t.Errorf("budget %d: busiest second %+v, want %d", budget, w, budget)
		}
	}
}

// A burst is cut at the budget, and the window slides: capacity comes back
// exactly one second after each admitted request.
func TestBudgetSlidingWindow(t *testing.T) {
	t.Parallel()
	m, c := newTestMeter()
	admit := func() bool { return m.admit("eu-west-3", "StopReplicationToReplica", classWrite, 3) }
	for i := range 3 {
		if !admit() {
			t.Fatalf("request %d of the burst refused", i)
		}
		c.t = c.t.Add(100 * time.Millisecond)
	}
	// t0+300ms: three admitted in the last second.
	if admit() {
		t.Fatal("4th request within one second admitted")
	}
	c.t = c.t.Add(699 * time.Millisecond) // t0+999ms: the first is still inside (t-1s, t].
	if admit() {
		t.Fatal("request 1ms before the window slid admitted")
	}
	c.t = c.t.Add(time.Millisecond) // t0+1s: the first has left the window.
	if !admit() {
		t.Fatal("request after the window slid refused")
	}
	w := m.snapshot().Region("eu-west-3").Writes
	if w.MaxAdmittedPerSecond != 3 {
		t.Errorf("MaxAdmittedPerSecond = %d, want 3", w.MaxAdmittedPerSecond)
	}
	if w.MaxPerSecond != 5 || w.Requests != 6 {
		// Received: t0, +100, +200, +300, +999 are five inside one second.
		t.Errorf("received stats %+v, want MaxPerSecond 5 and 6 requests", w)
	}
}

// Reads and writes have separate budgets, and unbudgeted operations touch
// neither.
func TestBudgetClassesAreSeparate(t *testing.T) {
	t.Parallel()
	m, _ := newTestMeter()
	for range 5 {
		m.admit("us-east-1", "DescribeSecret", classRead, 5)
	}
	if m.admit("us-east-1", "ListSecrets", classRead, 5) {
		t.Error("6th read admitted under a read budget of 5")
	}
	if !m.admit("us-east-1", "CreateSecret", classWrite, 5) {
		t.Error("write refused because reads spent their budget")
	}
	if !m.admit("us-east-1", "GetSecretValue", classNone, 0) {
		t.Error("GetSecretValue refused")
	}
	r := m.snapshot().Region("us-east-1")
	if r.Reads.Requests != 6 || r.Writes.Requests != 1 || r.APIs["GetSecretValue"].Requests != 1 {
		t.Errorf("stats %+v", r)
	}
}

func TestRegionFromAuthorization(t *testing.T) {
	t.Parallel()
	const sig = ", SignedHeaders=content-type;host;x-amz-date, Signature=0123abcd"
	for _, tc := range []struct {
		name, header string
		wantRegion   string
		wantCode     string
	}{
		{"sdk form", "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-3/secretsmanager/aws4_request" + sig, "eu-west-3", ""},
		{"no spaces after commas", "AWS4-HMAC-SHA256 Credential=AKID/20260101/ap-southeast-2/secretsmanager/aws4_request,SignedHeaders=host,Signature=ab", "ap-southeast-2", ""},
		{"missing", "", "", CodeMissingAuthentication},
		{"blank", "   ", "", CodeMissingAuthentication},
		{"other scheme", "Bearer abc", "", CodeIncompleteSignature},
		{"sigv2", "AWS AKID:signature", "", CodeIncompleteSignature},
		{"no credential", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab", "", CodeIncompleteSignature},
		{"no signature", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host", "", CodeIncompleteSignature},
		{"short scope", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/aws4_request" + sig, "", CodeIncompleteSignature},
		{"bad date", "AWS4-HMAC-SHA256 Credential=AKID/2026-01-01/us-east-1/secretsmanager/aws4_request" + sig, "", CodeIncompleteSignature},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4" + sig, "", CodeIncompleteSignature},
		{"other service", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request" + sig, "", CodeInvalidSignature},
		{"unknown region", "AWS4-HMAC-SHA256 Credential=AKID/20260101/mars-east-1/secretsmanager/aws4_request" + sig, "", CodeInvalidSignature},
		{"empty region", "AWS4-HMAC-SHA256 Credential=AKID/20260101//secretsmanager/aws4_request" + sig, "", CodeInvalidSignature},
	} {
		region, err := regionFromAuthorization(tc.header)
		switch {
		case tc.wantCode == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.wantCode != "" && (err == nil || err.code != tc.wantCode):
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.wantCode)
		case region != tc.wantRegion:
			t.Errorf("%s: region %q, want %q", tc.name, region, tc.wantRegion)
		}
	}
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	long := make([]byte, 513)
	for i := range long {
		long[i] = 'a'
	}
	for name, ok := range map[string]bool{
		"prod/payments/api-key": true,
		"Valid/_+=.@-Name":      true,
		string(long[:512]):      true,
		"":                      false,
		string(long):            false,
		"bad name":              false,
		"bad!":                  false,
		"naïve":                 false,
		"a:b":                   false,
	} {
		if err := validateName(name); (err == nil) != ok {
			t.Errorf("validateName(%.20q) = %v, want ok=%v", name, err, ok)
		}
	}
}
