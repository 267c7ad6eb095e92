package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Faults are the failures the stand-in injects. The zero value injects none.
// They are set through Options at construction and can be changed while the
// server runs (SetFaults, or POST /_standin/faults), so a load run can turn
// throttling on and off without restarting anything.
type Faults struct {
	// ThrottleRate is the probability, 0 to 1, that any API request is
	// answered with ThrottlingException (HTTP 400, "Rate exceeded") whatever
	// the budgets say. Default 0.
	ThrottleRate float64
	// ErrorRate is the probability, 0 to 1, that any API request is answered
	// with InternalServiceError (HTTP 500). The request is refused before it
	// changes anything. Default 0.
	ErrorRate float64
	// Latency is added to every API request before it is handled. Default 0.
	Latency time.Duration
	// WriteBudget is the number of write requests per second each Region
	// accepts; beyond it the stand-in answers ThrottlingException. Writes are
	// ReplicateSecretToRegions, RemoveRegionsFromReplication and
	// StopReplicationToReplica, which share one quota on AWS, plus
	// CreateSecret and DeleteSecret, counted in the same bucket so seeding a
	// load run is throttled too. 0 means unlimited. Default 0.
	WriteBudget int
	// ReadBudget is the same for DescribeSecret and ListSecrets. 0 means
	// unlimited. Default 0. GetSecretValue is under neither budget: AWS gives
	// it a separate, much larger quota.
	ReadBudget int
	// DownRegions are Regions that refuse every API request, as a Region
	// lost to an outage does: each request is answered 503
	// ServiceUnavailable before it is metered or changes anything. Requests
	// to the other Regions work as usual, so StopReplicationToReplica in a
	// replica's Region still promotes it (AWS documents promotion from the
	// replica's Region as the way to recover when the primary's Region is
	// unavailable). Default none.
	DownRegions []string
	// WriteAnswerDelay holds the answer of every write for this long after
	// the write was applied (it ends early when the client goes away): the
	// call has taken effect, but its client has not heard so. A client
	// killed meanwhile is one that crashed between sending a call and
	// recording its outcome. Default 0.
	WriteAnswerDelay time.Duration
	// FailingAPIs are actions (such as StopReplicationToReplica) answered
	// with InternalServiceError (HTTP 500) every time, in every Region,
	// before they change anything: moto answers StopReplicationToReplica
	// so, and a test needs one call to keep failing while the rest work.
	// Default none.
	FailingAPIs []string
}

// clone returns f with its own copies of DownRegions and FailingAPIs.
func (f Faults) clone() Faults {
	f.DownRegions = slices.Clone(f.DownRegions)
	f.FailingAPIs = slices.Clone(f.FailingAPIs)
	return f
}

// apiFailing reports whether requests for action are refused.
func (f Faults) apiFailing(action string) bool { return slices.Contains(f.FailingAPIs, action) }

// regionDown reports whether requests to region are refused.
func (f Faults) regionDown(region string) bool { return slices.Contains(f.DownRegions, region) }

// Equal reports whether f and g inject the same faults (Faults holds a
// slice, so == does not compile).
func (f Faults) Equal(g Faults) bool {
	return f.ThrottleRate == g.ThrottleRate && f.ErrorRate == g.ErrorRate && f.Latency == g.Latency &&
		f.WriteBudget == g.WriteBudget && f.ReadBudget == g.ReadBudget && slices.Equal(f.DownRegions, g.DownRegions) &&
		f.WriteAnswerDelay == g.WriteAnswerDelay && slices.Equal(f.FailingAPIs, g.FailingAPIs)
}

// Validate reports whether f is usable.
func (f Faults) Validate() error {
	var errs []error
	if f.ThrottleRate < 0 || f.ThrottleRate > 1 {
		errs = append(errs, fmt.Errorf("throttle rate %v is outside [0, 1]", f.ThrottleRate))
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error rate %v is outside [0, 1]", f.ErrorRate))
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %v is negative", f.Latency))
	}
	if f.WriteAnswerDelay < 0 {
		errs = append(errs, fmt.Errorf("write answer delay %v is negative", f.WriteAnswerDelay))
	}
	if f.WriteBudget < 0 {
		errs = append(errs, fmt.Errorf("write budget %d is negative", f.WriteBudget))
	}
	if f.ReadBudget < 0 {
		errs = append(errs, fmt.Errorf("read budget %d is negative", f.ReadBudget))
	}
	for _, r := range f.DownRegions {
		if !isKnownRegion(r) {
			// The name is a Region code the caller typed, not a secret.
			errs = append(errs, fmt.Errorf("down Region %q is not a known Region", r))
		}
	}
	for _, a := range f.FailingAPIs {
		if !isKnownAction(a) {
			errs = append(errs, fmt.Errorf("failing API %q is not an action the stand-in serves", a))
		}
	}
	return errors.Join(errs...)
}

// faultsJSON is the admin endpoint's form of Faults. Latency travels as a Go
// duration string ("250ms") so a human can write it with curl.
type faultsJSON struct {
	ThrottleRate float64  `json:"throttleRate"`
	ErrorRate    float64  `json:"errorRate"`
	Latency      string   `json:"latency"`
	WriteBudget  int      `json:"writeBudget"`
	ReadBudget   int      `json:"readBudget"`
	DownRegions  []string `json:"downRegions"`
	// WriteAnswerDelay is a Go duration string, like latency.
	WriteAnswerDelay string   `json:"writeAnswerDelay"`
	FailingAPIs      []string `json:"failingApis"`
}

// MarshalJSON writes f as the admin endpoints show it.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		ThrottleRate:     f.ThrottleRate,
		ErrorRate:        f.ErrorRate,
		Latency:          f.Latency.String(),
		WriteBudget:      f.WriteBudget,
		ReadBudget:       f.ReadBudget,
		DownRegions:      f.DownRegions,
		WriteAnswerDelay: f.WriteAnswerDelay.String(),
		FailingAPIs:      f.FailingAPIs,
	})
}

// UnmarshalJSON reads the admin endpoints' form, so GET /_standin/faults
// decodes straight into a Faults. Fields left out are zero; invalid values
// are an error.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var p faultsPatch
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	parsed, err := p.apply(Faults{})
	if err != nil {
		return err
	}
	*f = parsed
	return nil
}

// faultsPatch is the body of POST /_standin/faults: fields left out keep
// their current value.
type faultsPatch struct {
	ThrottleRate *float64 `json:"throttleRate"`
	ErrorRate    *float64 `json:"errorRate"`
	Latency      *string  `json:"latency"`
	WriteBudget  *int     `json:"writeBudget"`
	ReadBudget   *int     `json:"readBudget"`
	// DownRegions replaces the whole list; [] brings every Region back.
	DownRegions      *[]string `json:"downRegions"`
	WriteAnswerDelay *string   `json:"writeAnswerDelay"`
	// FailingAPIs replaces the whole list; [] makes every action work.
	FailingAPIs *[]string `json:"failingApis"`
}

func (p faultsPatch) apply(f Faults) (Faults, error) {
	if p.ThrottleRate != nil {
		f.ThrottleRate = *p.ThrottleRate
	}
	if p.ErrorRate != nil {
		f.ErrorRate = *p.ErrorRate
	}
	if p.Latency != nil {
		d, err := time.ParseDuration(*p.Latency)
		if err != nil {
			return f, fmt.Errorf("latency: %w", err)
		}
		f.Latency = d
	}
	if p.WriteBudget != nil {
		f.WriteBudget = *p.WriteBudget
	}
	if p.ReadBudget != nil {
		f.ReadBudget = *p.ReadBudget
	}
	if p.DownRegions != nil {
		f.DownRegions = slices.Clone(*p.DownRegions)
	}
	if p.WriteAnswerDelay != nil {
		d, err := time.ParseDuration(*p.WriteAnswerDelay)
		if err != nil {
			return f, fmt.Errorf("writeAnswerDelay: %w", err)
		}
		f.WriteAnswerDelay = d
	}
	if p.FailingAPIs != nil {
		f.FailingAPIs = slices.Clone(*p.FailingAPIs)
	}
	return f, f.Validate()
}

// isKnownAction reports whether the stand-in serves action (the keys of
// Server.operations).
func isKnownAction(action string) bool {
	switch action {
	case "CreateSecret", "DeleteSecret", "ReplicateSecretToRegions", "RemoveRegionsFromReplication",
		"StopReplicationToReplica", "DescribeSecret", "ListSecrets", "GetSecretValue", "PutSecretValue":
		return true
	}
	return false
}

// roll reports whether an event of probability p happens. math/rand/v2's
// top-level functions are safe for concurrent use and need no seeding.
func roll(p float64) bool {
	return p > 0 && rand.Float64() < p
}
