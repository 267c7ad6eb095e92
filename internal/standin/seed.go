package standin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DemoRegion is where SeedDemo creates its secrets.
const DemoRegion = "us-east-1"

// Seed creates a secret with a string value directly, not through the API:
// it needs no Authorization header, is never throttled or faulted and counts
// in no statistic. It returns the secret's ARN. It follows CreateSecret's
// rules, so an invalid Region or name or an existing secret is an error.
func (s *Server) Seed(ctx context.Context, region, name, value string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("standin: seed %s in %s: %w", name, region, err)
	}
	if !isKnownRegion(region) {
		return "", fmt.Errorf("standin: seed %s: unknown region %q", name, region)
	}
	out, aerr := s.createSecret(ctx, region, &createSecretInput{Name: name, SecretString: &value})
	if aerr != nil {
		return "", fmt.Errorf("standin: seed %s in %s: %w", name, region, aerr)
	}
	return out.(createSecretOutput).ARN, nil
}

// SeedDemo creates the demo secrets prod/payments/api-key and
// prod/db/primary in DemoRegion, unreplicated, so a demo or load run has
// something to replicate. Their values are placeholders, not credentials.
// It returns their ARNs.
func (s *Server) SeedDemo(ctx context.Context) ([]string, error) {
	demo := []struct{ name, value string }{
		{"prod/payments/api-key", `{"apiKey":"demo-not-a-real-key"}`},
		{"prod/db/primary", `{"username":"demo","password":"demo-not-a-real-password","host":"db.example.internal","port":5432}`},
	}
	arns := make([]string, 0, len(demo))
	for _, d := range demo {
		arn, err := s.Seed(ctx, DemoRegion, d.name, d.value)
		if err != nil {
			return arns, err
		}
		arns = append(arns, arn)
	}
	return arns, nil
}

// SeedSecret describes one secret for SeedSecrets.
type SeedSecret struct {
	// Account owns the secret ("" for the default account).
	Account string `json:"account,omitempty"`
	Region  string `json:"region"`
	Name    string `json:"name"`
	// Description, KMSKeyID and Tags are the secret's, as CreateSecret
	// would set them.
	Description string            `json:"description,omitempty"`
	KMSKeyID    string            `json:"kmsKeyId,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Replicas are created at once, InSync, unless Failed is set.
	Replicas []SeedReplica `json:"replicas,omitempty"`
}

// SeedReplica is one replica of a seeded secret.
type SeedReplica struct {
	Region   string `json:"region"`
	KMSKeyID string `json:"kmsKeyId,omitempty"`
	// Failed, if set, is the status message of a Failed replica: the
	// replica secret is not created in its Region, as on AWS.
	Failed string `json:"failed,omitempty"`
	// InProgressFor, if set, keeps the replica InProgress for that long
	// from the seeding, whatever Options.ReplicationDelay says.
	InProgressFor time.Duration `json:"inProgressFor,omitempty"`
}

// SeedSecrets creates many secrets at once, directly, under one lock: no
// request, no budget, no statistic. It is how tests and load runs build an
// inventory of thousands of secrets in milliseconds. It returns the
// primaries' ARNs in order, and stops at the first invalid spec (those
// before it are kept).
func (s *Server) SeedSecrets(ctx context.Context, specs []SeedSecret) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	arns := make([]string, 0, len(specs))
	for i, sp := range specs {
		if err := ctx.Err(); err != nil {
			return arns, fmt.Errorf("standin: seed: %w", err)
		}
		account := sp.Account
		if account == "" {
			account = s.account
		}
		if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
			return arns, fmt.Errorf("standin: seed %d: account id is not 12 digits", i)
		}
		if !isKnownRegion(sp.Region) {
			return arns, fmt.Errorf("standin: seed %s: unknown region %q", sp.Name, sp.Region)
		}
		if err := validateName(sp.Name); err != nil {
			return arns, fmt.Errorf("standin: seed %s: %w", sp.Name, err)
		}
		st := s.accountState(account)
		if st.regions[sp.Region][sp.Name] != nil {
			return arns, fmt.Errorf("standin: seed %s in %s: %w", sp.Name, sp.Region, errSecretExists(sp.Name))
		}
		value := "seeded"
		sec := &secret{
			name: sp.Name, suffix: arnSuffix(), region: sp.Region, description: sp.Description,
			kmsKeyID: sp.KMSKeyID, created: now, changed: now,
			value: &secretValue{versionID: newVersionID(), str: &value, created: now},
		}
		keys := make([]string, 0, len(sp.Tags))
		for k := range sp.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			sec.tags = append(sec.tags, tagJSON{Key: k, Value: sp.Tags[k]})
		}
		sec.arn = secretARN(sp.Region, account, sec.name, sec.suffix)
		rr := make([]replicaRegionJSON, 0, len(sp.Replicas))
		for _, r := range sp.Replicas {
			rr = append(rr, replicaRegionJSON{Region: r.Region, KMSKeyID: r.KMSKeyID})
		}
		if len(rr) > 0 {
			if err := s.checkReplicaRegions(sec, rr); err != nil {
				return arns, fmt.Errorf("standin: seed %s: %w", sp.Name, err)
			}
		}
		st.region(sp.Region)[sec.name] = sec
		s.ensureKMSAlias(account, sp.Region, sp.KMSKeyID)
		for _, r := range sp.Replicas {
			s.ensureKMSAlias(account, r.Region, r.KMSKeyID)
		}
		if len(rr) > 0 {
			s.replicate(st, sec, rr, false, now.Add(-s.delay))
			for _, r := range sp.Replicas {
				if r.InProgressFor > 0 {
					if rep := sec.replicaIn(r.Region); rep != nil {
						rep.readyAt = now.Add(r.InProgressFor)
					}
				}
				if r.Failed == "" {
					continue
				}
				if rep := sec.replicaIn(r.Region); rep != nil {
					rep.failed = r.Failed
					if rs := st.replicaOf(sec, r.Region); rs != nil {
						delete(st.regions[r.Region], rs.name)
					}
				}
			}
		}
		arns = append(arns, sec.arn)
	}
	return arns, nil
}

// ForceDelete deletes a secret at once, without a recovery window, directly
// (like Seed: no request, no statistic), so a test can make a secret
// disappear from under the inventory. A replicated primary's replicas go
// with it.
func (s *Server) ForceDelete(account, region, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if account == "" {
		account = s.account
	}
	st := s.accountState(account)
	sec := st.regions[region][name]
	if sec == nil {
		return fmt.Errorf("standin: force delete %s in %s: %w", name, region, errSecretNotFound())
	}
	for _, r := range sec.replicas {
		if rs := st.replicaOf(sec, r.region); rs != nil {
			delete(st.regions[r.region], rs.name)
		}
	}
	delete(st.regions[region], name)
	return nil
}

// DemoAccountB is the second account SeedFleetDemo fills, beside the
// default one: assume arn:aws:iam::210987654321:role/<any> to reach it.
const DemoAccountB = "210987654321"

// DemoFleetRegions are the Regions SeedFleetDemo fills.
var DemoFleetRegions = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}

// SeedFleetDemo fills the default account and DemoAccountB with a few
// dozen secrets across DemoFleetRegions, so a demo's inventory is not
// empty: tagged by team and environment, some replicated (with a KMS key),
// one with a Failed replica. Values are placeholders. Both accounts get a
// KMS key aliased alias/replica-REGION in each of DemoFleetRegions and
// us-west-2, for policies to name. It returns the ARNs.
func (s *Server) SeedFleetDemo(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	for _, account := range []string{s.account, DemoAccountB} {
		for _, region := range append(slices.Clone(DemoFleetRegions), "us-west-2") {
			s.ensureKMSAlias(account, region, "alias/replica-"+region)
		}
	}
	s.mu.Unlock()
	apps := []string{"payments/card-token", "payments/ledger-db", "search/index-token", "web/session-key", "web/oauth-client", "batch/queue-creds"}
	var out []SeedSecret
	for ai, account := range []string{s.account, DemoAccountB} {
		for ri, region := range DemoFleetRegions {
			for i, app := range apps {
				env := []string{"prod", "staging"}[(i+ai)%2]
				sp := SeedSecret{Account: account, Region: region, Name: env + "/" + region + "/" + app,
					Description: "demo secret", Tags: map[string]string{"team": strings.Split(app, "/")[0], "env": env}}
				next := DemoFleetRegions[(ri+1)%len(DemoFleetRegions)]
				switch {
				case env == "prod" && i%2 == 0:
					sp.Replicas = []SeedReplica{{Region: next, KMSKeyID: "alias/replica-" + next}}
				case env == "prod" && ri == 0:
					sp.Replicas = []SeedReplica{{Region: next, Failed: MsgNameExistsInRegion}}
				}
				out = append(out, sp)
			}
		}
	}
	return s.SeedSecrets(ctx, out)
}
