package standin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

func kmsClient(endpoint, region string) *kms.Client {
	return kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: testenv.Credentials})
}

// KMS through the SDK: keys and aliases are per Region; an alias resolves
// to its key by DescribeKey in its own Region only.
func TestKMSAliasesPerRegionThroughTheSDK(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{})
	ctx := context.Background()
	eu := kmsClient(url, "eu-west-1")
	key, err := eu.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("replicas")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(key.KeyMetadata.KeyId)
	if _, err := eu.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	var exists *kmstypes.AlreadyExistsException
	if _, err := eu.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(id)}); !errors.As(err, &exists) {
		t.Errorf("a second alias/app: %v, want AlreadyExistsException", err)
	}
	arn := "arn:aws:kms:eu-west-1:" + standin.AccountIDDefault + ":key/" + id
	for _, ref := range []string{"alias/app", "arn:aws:kms:eu-west-1:" + standin.AccountIDDefault + ":alias/app", id, arn} {
		d, err := eu.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		if err != nil || aws.ToString(d.KeyMetadata.KeyId) != id || aws.ToString(d.KeyMetadata.Arn) != arn {
			t.Errorf("DescribeKey(%s): %v %+v", ref, err, d)
		}
	}
	var nf *kmstypes.NotFoundException
	if _, err := kmsClient(url, "us-west-2").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/app")}); !errors.As(err, &nf) {
		t.Errorf("alias/app in us-west-2: %v, want NotFoundException", err)
	}
	// The AWS managed key exists everywhere; an alias seeded with a
	// secret's replica exists in the replica's Region.
	if d, err := kmsClient(url, "us-west-2").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/secretsmanager")}); err != nil ||
		d.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeAws {
		t.Errorf("the managed key: %v", err)
	}
	if _, err := srv.SeedSecrets(ctx, []standin.SeedSecret{{Region: "us-east-1", Name: "s",
		Replicas: []standin.SeedReplica{{Region: "ap-south-1", KMSKeyID: "alias/seeded"}}}}); err != nil {
		t.Fatal(err)
	}
	al, err := kmsClient(url, "ap-south-1").ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, a := range al.Aliases {
		names[aws.ToString(a.AliasName)] = true
	}
	if !names["alias/seeded"] || !names["alias/aws/secretsmanager"] || names["alias/app"] {
		t.Errorf("aliases in ap-south-1: %v", names)
	}
	// Go API: another account's key.
	if _, gotARN, err := srv.CreateKMSKey("210987654321", "eu-west-1", "alias/app"); err != nil || gotARN == arn {
		t.Errorf("CreateKMSKey in another account: %v %s", err, gotARN)
	}
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
