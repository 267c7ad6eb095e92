package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/chromedp/chromedp"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// The DR page fails a Region over: the preview (validate_only) names each
// secret's steps or why it is skipped and stores nothing; the failover
// needs the target Region typed; it then runs to SUCCEEDED, its page lists
// the secrets with their AWS calls, and AWS has the new primary.
func TestDRFailoverFromThePage(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := scanned(t)
	b := newBrowser(t, 1280, 900)
	var plan string
	b.run(t, "preview",
		chromedp.Navigate(s.portal+"#/dr?region=us-east-1&target=eu-west-1"),
		chromedp.WaitVisible(chromedp.ID("fo-preview")),
		chromedp.Click(chromedp.ID("fo-preview")),
		until(`document.querySelector('#fo-summary') !== null`),
		textOf("fo-plan", &plan),
	)
	for _, want := range []string{"2 secrets with their primary in us-east-1", "1 to fail over to eu-west-1", "1 skipped",
		"app/ready", "StopReplicationToReplica in eu-west-1", "app/bare", "Skipped"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the preview lacks %q: %q", want, plan)
		}
	}
	b.axeCheck(t, "the failover preview")
	ops := func() int {
		list, err := s.env.Client.ListOperations(context.Background(), &replicadv1.ListOperationsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.GetOperations())
	}
	if n := ops(); n != 0 {
		t.Fatalf("the preview stored %d operations", n)
	}

	var disabled bool
	b.run(t, "type a near miss",
		chromedp.SendKeys(chromedp.ID("fo-confirm-region"), "eu-west-3"),
		evalInto(`document.querySelector('#fo-confirm').disabled`, &disabled),
		evalInto(`document.querySelector('#fo-form').requestSubmit(), true`, new(bool)),
		until(text("#fo-form")+`.includes('Type eu-west-1 to confirm')`),
	)
	if !disabled {
		t.Error("the failover is enabled by a wrong Region")
	}
	if n := ops(); n != 0 {
		t.Fatalf("failed over without the typed Region: %d operations", n)
	}

	var page, hash string
	b.run(t, "fail over",
		evalInto(`document.querySelector('#fo-confirm-region').value = '', true`, new(bool)),
		chromedp.SendKeys(chromedp.ID("fo-confirm-region"), "eu-west-1"),
		until(`!document.querySelector('#fo-confirm').disabled`),
		chromedp.Click(chromedp.ID("fo-confirm")),
		until(`location.hash.startsWith('#/operations/')`),
		until(text("#op-state")+`.includes('Succeeded')`),
		until(`document.querySelector('#live-status')?.dataset.ended === 'true'`),
		textOf("op-dr", &page),
		evalInto(`location.hash`, &hash),
	)
	for _, want := range []string{"app/ready", "StopReplicationToReplica in eu-west-1", "Succeeded", "app/bare", "Skipped"} {
		if !strings.Contains(page, want) {
			t.Errorf("the failover's page lacks %q: %q", want, page)
		}
	}
	out, err := testenv.SecretsManager(s.awsURL, "eu-west-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/ready")})
	if err != nil {
		t.Fatal(err)
	}
	if p := aws.ToString(out.PrimaryRegion); p != "" && p != "eu-west-1" {
		t.Fatalf("after the failover app/ready in eu-west-1 follows %s", p)
	}

	// Fail back from the failover's page: a preview, the Region typed,
	// then SUCCEEDED and us-east-1 a replica of the new primary again.
	var fbPlan string
	b.run(t, "preview the failback",
		chromedp.Click(chromedp.ID("failback")),
		chromedp.WaitVisible(chromedp.ID("fb-preview")),
		chromedp.SendKeys(chromedp.ID("fb-confirm-region"), "us-east-1"),
		evalInto(`document.querySelector('#fb-confirm').disabled`, &disabled),
	)
	if !disabled {
		t.Error("the failback is enabled before its preview")
	}
	b.run(t, "preview",
		chromedp.Click(chromedp.ID("fb-preview")),
		until(`document.querySelector('#fb-plan #fo-summary') !== null`),
		textOf("fb-plan", &fbPlan),
		until(`!document.querySelector('#fb-confirm').disabled`),
	)
	if !strings.Contains(fbPlan, "app/ready") || !strings.Contains(fbPlan, "1 to fail back to us-east-1") {
		t.Errorf("the failback preview: %q", fbPlan)
	}
	b.axeCheck(t, "the failback dialog")
	b.run(t, "fail back",
		chromedp.Click(chromedp.ID("fb-confirm")),
		until(fmt.Sprintf(`location.hash.startsWith('#/operations/') && location.hash !== %q`, hash)),
		until(text("#op-state")+`.includes('Succeeded')`),
		until(`document.querySelector('#live-status')?.dataset.ended === 'true'`),
	)
	out, err = testenv.SecretsManager(s.awsURL, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/ready")})
	if err != nil {
		t.Fatal(err)
	}
	if p := aws.ToString(out.PrimaryRegion); p != "eu-west-1" {
		t.Fatalf("after the failback app/ready in us-east-1 follows %q, want the new primary eu-west-1", p)
	}
}
