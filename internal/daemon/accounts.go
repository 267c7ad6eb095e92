package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/validate"
)

// accountsFile is --accounts-file:
//
//	accounts:
//	  - role_arn: arn:aws:iam::111111111111:role/replicad
//	    external_id: optional-shared-secret
//	    regions: [us-east-1, eu-west-1]
type accountsFile struct {
	Accounts []struct {
		RoleARN    string   `yaml:"role_arn"`
		ExternalID string   `yaml:"external_id"`
		Regions    []string `yaml:"regions"`
	} `yaml:"accounts"`
}

// LoadAccounts reads --accounts-file into c.AWS.Accounts, checking every
// entry: a role ARN, no account twice, at least one Region, each allowed.
// Errors name entries by position: account ids are sensitive.
func (c *Config) LoadAccounts() error {
	if c.AccountsFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.AccountsFile)
	if err != nil {
		return fmt.Errorf("read --accounts-file: %w", err)
	}
	var f accountsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("--accounts-file: %w", err)
	}
	rules, err := validate.NewRules(c.AllowedRegions, c.DefaultRegion)
	if err != nil {
		return err
	}
	var errs []error
	seen := map[string]bool{}
	var out []awssm.Account
	for i, a := range f.Accounts {
		id, err := awssm.AccountOfRole(a.RoleARN)
		if err != nil {
			errs = append(errs, fmt.Errorf("--accounts-file: account %d: role_arn: %w", i+1, err))
			continue
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("--accounts-file: account %d: the same account as an earlier entry", i+1))
		}
		seen[id] = true
		if len(a.Regions) == 0 {
			errs = append(errs, fmt.Errorf("--accounts-file: account %d: regions: at least one Region is required", i+1))
		}
		for _, r := range a.Regions {
			if !rules.Allowed(r) {
				errs = append(errs, fmt.Errorf("--accounts-file: account %d: regions: %q is not a Region this server may act in", i+1, r))
			}
		}
		out = append(out, awssm.Account{ID: id, RoleARN: a.RoleARN, ExternalID: a.ExternalID, Regions: slices.Compact(slices.Sorted(slices.Values(a.Regions)))})
	}
	if len(f.Accounts) == 0 {
		errs = append(errs, errors.New("--accounts-file lists no account"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.AWS.Accounts = out
	return nil
}
