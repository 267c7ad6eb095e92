package awssm

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// KeyState calls KMS DescribeKey in region for key, a reference as a
// replica's KmsKeyId gives it (key id, key ARN or alias), in the account
// set by WithAccount, and returns the key's KeyState ("Enabled",
// "Disabled", "PendingDeletion"...). A key that does not exist there is an
// *Error of ClassNotFound. The call spends the read budget of its
// (account, Region).
func (c *Client) KeyState(ctx context.Context, region, key string) (string, error) {
	out, err := c.kmsClient(ctx, region).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
	if err != nil {
		return "", classify("DescribeKey", region, err)
	}
	if out.KeyMetadata == nil {
		return "", nil
	}
	return string(out.KeyMetadata.KeyState), nil
}

// kmsClient is client for KMS: the call's account's credentials, the same
// endpoint, budgets and observer.
func (c *Client) kmsClient(ctx context.Context, region string) *kms.Client {
	account, _ := ctx.Value(accountKey{}).(string)
	creds, assumed := c.creds[account]
	if !assumed {
		account = ""
	}
	k := clientKey{account, region}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.kmsByRegion[k]; ok {
		return cl
	}
	cl := kms.NewFromConfig(c.base, func(o *kms.Options) {
		o.Region = region
		if c.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.Endpoint)
		}
		if assumed {
			o.Credentials = creds
		}
		o.APIOptions = append(o.APIOptions, attemptMiddleware(c.limits, c.cfg.Observer, c.tracer))
	})
	c.kmsByRegion[k] = cl
	return cl
}
