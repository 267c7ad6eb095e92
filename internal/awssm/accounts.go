package awssm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Account is one AWS account replicad acts in by assuming an IAM role.
type Account struct {
	// ID is the 12-digit account id; it must be the account of RoleARN.
	ID string
	// RoleARN is the role to assume (arn:aws:iam::<ID>:role/<name>).
	RoleARN string
	// ExternalID, if set, is passed to AssumeRole (the role's trust policy
	// asks for it, against the confused deputy problem).
	ExternalID string
	// Regions are the Regions to work in there.
	Regions []string
}

// AccountOfRole returns the account id in an IAM role ARN.
func AccountOfRole(roleARN string) (string, error) {
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") || len(parts[5]) == len("role/") {
		return "", errors.New("not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
	}
	if !isAccountID(parts[4]) {
		return "", errors.New("the role ARN's account is not 12 digits")
	}
	return parts[4], nil
}

func isAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// assumeRoles builds one cached credentials provider per configured
// account: the SDK's AssumeRole provider, wrapped in its cache, which
// refreshes the credentials shortly before they expire, so a call never
// waits on STS except the first and one about every hour.
func assumeRoles(base aws.Config, cfg Config) (map[string]aws.CredentialsProvider, error) {
	if len(cfg.Accounts) == 0 {
		return nil, nil
	}
	endpoint := cfg.STSEndpoint
	if endpoint == "" {
		endpoint = cfg.Endpoint
	}
	stsCfg := base.Copy()
	if stsCfg.Region == "" {
		// STS needs a Region to sign for; its global endpoint answers in
		// us-east-1.
		stsCfg.Region = "us-east-1"
	}
	client := sts.NewFromConfig(stsCfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	out := make(map[string]aws.CredentialsProvider, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		id, err := AccountOfRole(a.RoleARN)
		if err != nil {
			return nil, fmt.Errorf("account %d: %w", i+1, err)
		}
		if a.ID != "" && a.ID != id {
			return nil, fmt.Errorf("account %d: the role ARN belongs to another account", i+1)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("account %d: configured twice", i+1)
		}
		ext := a.ExternalID
		out[id] = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "replicad"
			if ext != "" {
				o.ExternalID = aws.String(ext)
			}
		}))
	}
	return out, nil
}
