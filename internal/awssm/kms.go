package awssm

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/replicad/replicad/internal/domain"
)

// DescribeKey asks KMS in region which key ref names (a key id, key ARN,
// alias/NAME or alias ARN), in the call's account (WithAccount), as
// Secrets Manager resolves a replica's KmsKeyId: in the replica's Region.
// A ref that names no key there is an Error of ClassNotFound.
//
// KMS calls are not under the Secrets Manager rate budgets (KMS has its
// own quotas, and replicad makes one call per alias, Region and account
// per cache period); the SDK's retryer still applies.
func (c *Client) DescribeKey(ctx context.Context, region, ref string) (domain.KMSKey, error) {
	out, err := c.kmsClient(ctx, region).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
	if err != nil {
		e := classify("DescribeKey", region, err)
		if e.Code == "NotFoundException" {
			e.Class = ClassNotFound
		}
		return domain.KMSKey{}, e
	}
	if out.KeyMetadata == nil {
		return domain.KMSKey{}, &Error{API: "DescribeKey", Region: region, Code: "EmptyAnswer", Message: "no key metadata", Class: ClassUnavailable}
	}
	return domain.KMSKey{ID: aws.ToString(out.KeyMetadata.KeyId), ARN: aws.ToString(out.KeyMetadata.Arn), State: string(out.KeyMetadata.KeyState)}, nil
}

// KeyState asks KMS in region for the state of the key a replica's
// KmsKeyId names (key id, key ARN or alias), in the call's account
// (WithAccount): "Enabled", "Disabled", "PendingDeletion"... A key that
// does not exist there is an Error of ClassNotFound. Readiness uses it to
// tell a replica that can be promoted and used from one whose key cannot.
func (c *Client) KeyState(ctx context.Context, region, key string) (string, error) {
	k, err := c.DescribeKey(ctx, region, key)
	return k.State, err
}

// AccountIDs are the configured accounts' ids, in configuration order;
// empty when replicad acts with the ambient credentials only.
func (c *Client) AccountIDs() []string {
	out := make([]string, 0, len(c.cfg.Accounts))
	for _, a := range c.cfg.Accounts {
		id := a.ID
		if id == "" {
			id, _ = AccountOfRole(a.RoleARN)
		}
		out = append(out, id)
	}
	return out
}

// kmsClient is client for KMS: the call's account's credentials, the
// same endpoint.
func (c *Client) kmsClient(ctx context.Context, region string) *kms.Client {
	return cachedClient(c, ctx, region, c.kmsByRegion, func(_ string, creds aws.CredentialsProvider) *kms.Client {
		return kms.NewFromConfig(c.base, func(o *kms.Options) {
			o.Region = region
			if c.cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(c.cfg.Endpoint)
			}
			if creds != nil {
				o.Credentials = creds
			}
		})
	})
}
