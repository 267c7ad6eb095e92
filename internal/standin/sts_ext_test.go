package standin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

// TestAssumeRoleKeepsAccountsApart: credentials from the stand-in's
// AssumeRole, through the SDK's stscreds provider, act in the role's
// account, whose secrets no other account sees; a role that requires an
// external id refuses a caller without it.
func TestAssumeRoleKeepsAccountsApart(t *testing.T) {
	t.Parallel()
	const other = "210987654321"
	role := "arn:aws:iam::" + other + ":role/replicad"
	guarded := "arn:aws:iam::" + other + ":role/guarded"
	srv, url := startStandin(t, standin.Options{RoleExternalIDs: map[string]string{guarded: "ext-1"}})
	ctx := context.Background()
	stsClient := sts.New(sts.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTANDINTEST", "not-a-secret", ""),
	})
	inRole := func(role, ext string) *secretsmanager.Client {
		prov := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, role, func(o *stscreds.AssumeRoleOptions) {
			if ext != "" {
				o.ExternalID = aws.String(ext)
			}
		}))
		return secretsmanager.New(secretsmanager.Options{Region: smtest.PrimaryRegion, BaseEndpoint: aws.String(url), Credentials: prov})
	}
	assumed := inRole(role, "")
	out := smtest.Check(assumed.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("acct/b"), SecretString: aws.String("v")})).Must(t)
	if !strings.Contains(aws.ToString(out.ARN), ":"+other+":secret:acct/b-") {
		t.Errorf("secret created with the assumed role has ARN %s, want account %s", aws.ToString(out.ARN), other)
	}
	// A second call reuses the cached credentials.
	smtest.Check(assumed.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("acct/b")})).Must(t)
	if n := srv.Stats().AssumeRole; n != 1 {
		t.Errorf("%d AssumeRole calls for two requests, want 1 (cached)", n)
	}
	c := smtest.NewClients(url)
	list := smtest.Check(c.In(smtest.PrimaryRegion).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})).Must(t)
	if len(list.SecretList) != 0 {
		t.Errorf("the default account lists another account's secrets: %d", len(list.SecretList))
	}
	if _, err := inRole(guarded, "wrong").ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("assuming a guarded role with the wrong external id: %v", err)
	}
	if _, err := inRole(guarded, "ext-1").ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); err != nil {
		t.Errorf("assuming a guarded role with its external id: %v", err)
	}
	if st := srv.Stats(); st.AssumeRoleRefused != 1 || st.AssumeRole != 2 {
		t.Errorf("AssumeRole %d, refused %d; want 2 and 1", st.AssumeRole, st.AssumeRoleRefused)
	}
	// Seeding names the account directly.
	if _, err := srv.SeedSecrets(ctx, []standin.SeedSecret{{Account: other, Region: smtest.PrimaryRegion, Name: "acct/seeded"}}); err != nil {
		t.Fatal(err)
	}
	list = smtest.Check(assumed.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})).Must(t)
	if len(list.SecretList) != 2 {
		t.Errorf("the other account lists %d secrets, want 2", len(list.SecretList))
	}
}

func TestSeedFleetDemo(t *testing.T) {
	t.Parallel()
	srv, _ := startStandin(t, standin.Options{})
	ctx := context.Background()
	if _, err := srv.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	arns, err := srv.SeedFleetDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string]int{}
	for _, a := range arns {
		accounts[strings.Split(a, ":")[4]]++
	}
	if len(arns) < 24 || accounts[standin.AccountIDDefault] != accounts[standin.DemoAccountB] {
		t.Errorf("fleet demo: %d secrets by account %v", len(arns), accounts)
	}
}
