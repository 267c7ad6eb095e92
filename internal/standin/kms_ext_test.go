package standin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/replicad/replicad/internal/standin"
)

func kmsClient(url, region string) *kms.Client {
	return kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// DescribeKey, through the AWS SDK: a declared key in its state, under its
// alias, id or ARN, and only in its own Region; the AWS managed key
// everywhere; any other key NotFoundException; nothing in a Region that is
// down.
func TestDescribeKey(t *testing.T) {
	t.Parallel()
	sm, url := startStandin(t, standin.Options{})
	ctx := context.Background()
	sm.SetKMSKey("", "us-west-2", "alias/dr-off", standin.KMSKeyDisabled)
	sm.SetKMSKey("", "us-west-2", "1234abcd-12ab-34cd-56ef-1234567890ab", standin.KMSKeyPendingDeletion)
	sm.SetKMSKey("", "us-west-2", "alias/dr-on", standin.KMSKeyEnabled)
	west := kmsClient(url, "us-west-2")
	for ref, want := range map[string]kmstypes.KeyState{
		"alias/dr-off": kmstypes.KeyStateDisabled,
		"arn:aws:kms:us-west-2:" + standin.AccountIDDefault + ":alias/dr-off":                             kmstypes.KeyStateDisabled,
		"1234abcd-12ab-34cd-56ef-1234567890ab":                                                            kmstypes.KeyStatePendingDeletion,
		"arn:aws:kms:us-west-2:" + standin.AccountIDDefault + ":key/1234abcd-12ab-34cd-56ef-1234567890ab": kmstypes.KeyStatePendingDeletion,
		"alias/dr-on":              kmstypes.KeyStateEnabled,
		"alias/aws/secretsmanager": kmstypes.KeyStateEnabled,
	} {
		out, err := west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		if err != nil {
			t.Errorf("DescribeKey(%s): %v", ref, err)
			continue
		}
		if got := out.KeyMetadata.KeyState; got != want {
			t.Errorf("DescribeKey(%s): %s, want %s", ref, got, want)
		}
		if out.KeyMetadata.Enabled != (want == kmstypes.KeyStateEnabled) {
			t.Errorf("DescribeKey(%s): Enabled %v in state %s", ref, out.KeyMetadata.Enabled, want)
		}
	}
	var nf *kmstypes.NotFoundException
	if _, err := west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/never-made")}); !errors.As(err, &nf) {
		t.Errorf("an unknown key: %v, want NotFoundException", err)
	}
	if _, err := kmsClient(url, "eu-west-1").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/dr-on")}); !errors.As(err, &nf) {
		t.Errorf("a key of another Region: %v, want NotFoundException", err)
	}
	if err := sm.SetFaults(standin.Faults{DownRegions: []string{"us-west-2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/dr-on")}); err == nil {
		t.Error("DescribeKey answered in a Region that is down")
	}
}
