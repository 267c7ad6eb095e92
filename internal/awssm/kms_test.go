package awssm_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/internal/standin"
)

// DescribeKey resolves an alias in the Region asked, against the stand-in
// and against moto: the same alias name in another Region is another key,
// and an alias missing there is ClassNotFound.
func TestDescribeKeyResolvesAliasesPerRegion(t *testing.T) {
	t.Parallel()
	sm, err := standin.New(standin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sm)
	t.Cleanup(hs.Close)
	for _, tc := range []struct {
		name     string
		endpoint func(t *testing.T) string
	}{
		{"stand-in", func(*testing.T) string { return hs.URL }},
		{"moto", func(t *testing.T) string { return moto.Start(t).URL }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			endpoint := tc.endpoint(t)
			creds := credentials.NewStaticCredentialsProvider("AKIDTEST", "not-a-secret", "")
			keys := map[string]string{}
			for _, region := range []string{"eu-west-1", "us-west-2"} {
				kc := kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds})
				k, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: k.KeyMetadata.KeyId}); err != nil {
					t.Fatal(err)
				}
				keys[region] = aws.ToString(k.KeyMetadata.Arn)
			}
			c, err := awssm.New(ctx, awssm.Config{Endpoint: endpoint, Credentials: creds})
			if err != nil {
				t.Fatal(err)
			}
			for region, arn := range keys {
				got, err := c.DescribeKey(ctx, region, "alias/app")
				if err != nil || got.ARN != arn || got.ID == "" {
					t.Errorf("alias/app in %s: %+v %v, want %s", region, got, err, arn)
				}
			}
			if keys["eu-west-1"] == keys["us-west-2"] {
				t.Error("one key in two Regions")
			}
			_, err = c.DescribeKey(ctx, "ap-south-1", "alias/app")
			var ae *awssm.Error
			if !errors.As(err, &ae) || ae.Class != awssm.ClassNotFound {
				t.Errorf("alias/app in ap-south-1: %v, want ClassNotFound", err)
			}
		})
	}
}
