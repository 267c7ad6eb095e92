package standin_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/standin"
)

// The real SDK, one client per Region, all on the stand-in's one endpoint.
func Example() {
	srv, err := standin.New(standin.Options{})
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	client := func(region string) *secretsmanager.Client {
		return secretsmanager.NewFromConfig(aws.Config{
			Region:      region,
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		}, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	}
	ctx := context.Background()
	if _, err := client("us-east-1").CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/db/primary"), SecretString: aws.String("s3cr3t"),
	}); err != nil {
		log.Fatal(err)
	}
	rep, err := client("us-east-1").ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId:          aws.String("prod/db/primary"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("eu-west-3"), KmsKeyId: aws.String("alias/eu")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.ReplicationStatus[0].Status)

	// With the default ReplicationDelay of 0 the next read shows InSync.
	d, err := client("us-east-1").DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/db/primary")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.ReplicationStatus[0].Status, aws.ToString(d.ReplicationStatus[0].KmsKeyId))

	replica, err := client("eu-west-3").DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/db/primary")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replica's primary:", aws.ToString(replica.PrimaryRegion))

	fmt.Println("writes in us-east-1:", srv.Stats().Region("us-east-1").Writes.Requests)
	// Output:
	// InProgress
	// InSync alias/eu
	// replica's primary: us-east-1
	// writes in us-east-1: 2
}
