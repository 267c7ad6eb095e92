package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/chromedp/chromedp"

	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// waitInventory waits until the inventory lists name with replicas in
// exactly the given Regions, all InSync (a condition, not a delay).
func (s *stack) waitInventory(t *testing.T, name string, regions ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := s.env.REST(t, "GET", "/v1/secrets?"+url.Values{"name_prefix": {name}}.Encode(), nil)
		var res struct {
			Secrets []struct {
				Name     string `json:"name"`
				Replicas []struct {
					Region string `json:"region"`
					Status string `json:"status"`
				} `json:"replicas"`
			} `json:"secrets"`
		}
		if code == http.StatusOK && json.Unmarshal(body, &res) == nil {
			for _, sec := range res.Secrets {
				if sec.Name != name || len(sec.Replicas) != len(regions) {
					continue
				}
				ok := true
				for i, r := range sec.Replicas {
					ok = ok && r.Region == regions[i] && r.Status == "REPLICATION_STATUS_IN_SYNC"
				}
				if ok {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inventory never listed %s with %v: %d %s", name, regions, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cells reads the Regions table as region -> column -> text.
const regionCells = `Object.fromEntries([...document.querySelectorAll('#regions tbody tr')].map(r => {
  const heads = [...document.querySelectorAll('#regions thead th')].map(x => x.textContent);
  return [r.cells[0].textContent, Object.fromEntries([...r.cells].map((c, i) => [heads[i], c.textContent]))];
}))`

// policyShown waits until the policy comparison has ended.
const policyShown = `document.querySelector('#secret')?.getAttribute('aria-busy') === 'false' &&
  !(document.querySelector('#policy')?.textContent || '').startsWith('Finding')`

// The Secret page: a row per Region with AWS's KMS key, status, message and
// last access, the drift from the policy that selects the secret in its own
// column (never mixed with AWS's status), the policy named, and the recent
// operations; a Region the policy wants and AWS lacks offers Replicate, an
// extra one Remove, which runs to SUCCEEDED and leaves the secret
// compliant.
func TestSecretPageShowsRegionsDriftPolicyAndActions(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := scanned(t)
	s.seed(t, "app/multi", "eu-west-1", "eu-west-3")
	s.waitInventory(t, "app/multi", "eu-west-1", "eu-west-3")
	if code, body := s.env.REST(t, "POST", "/v1/policies", appPolicy); code != http.StatusOK {
		t.Fatalf("create a policy: %d %s", code, body)
	}
	b := newBrowser(t, 1280, 900)

	// An extra Region: drift in its own column, AWS's InSync untouched.
	var cells map[string]map[string]string
	var policy, headers string
	b.run(t, "app/multi",
		chromedp.Navigate(s.portal+"#/secrets/app%2Fmulti"),
		until(policyShown),
		evalInto(regionCells, &cells),
		textOf("policy", &policy),
		evalInto(`[...document.querySelectorAll('#regions thead th')].map(x => x.textContent).join('|')`, &headers),
	)
	b.axeCheck(t, "the secret page with drift")
	if headers != "Region|KMS key|AWS status|AWS message|Last accessed|Drift from policy|Actions" {
		t.Errorf("the Regions table's columns: %q", headers)
	}
	if c := cells["eu-west-3"]; !strings.Contains(c["AWS status"], "InSync") || !strings.Contains(c["Drift from policy"], "Extra Region") ||
		strings.Contains(c["AWS status"], "Extra") || c["KMS key"] == "" || c["Last accessed"] == "" {
		t.Errorf("eu-west-3 (extra): %v", c)
	}
	if c := cells["eu-west-1"]; !strings.Contains(c["AWS status"], "InSync") || !strings.Contains(c["Drift from policy"], "none") {
		t.Errorf("eu-west-1 (wanted, InSync): %v", c)
	}
	if !strings.Contains(policy, "Selected by app-dr") || !strings.Contains(policy, "report mode") || !strings.Contains(policy, "1 drift from the policy") {
		t.Errorf("the policy section: %q", policy)
	}

	// A missing Region: a row of its own, with Replicate.
	var href, ticked string
	b.run(t, "app/bare",
		chromedp.Navigate(s.portal+"#/secrets/app%2Fbare"),
		until(policyShown),
		evalInto(regionCells, &cells),
		evalInto(`document.querySelector('a[data-replicate="eu-west-1"]')?.getAttribute('href') || ''`, &href),
	)
	if c := cells["eu-west-1"]; !strings.Contains(c["AWS status"], "No replica") || !strings.Contains(c["Drift from policy"], "Missing Region") {
		t.Errorf("eu-west-1 (missing): %v", c)
	}
	b.run(t, "replicate the missing Region",
		chromedp.Click(chromedp.CSS(`a[data-replicate="eu-west-1"]`)),
		chromedp.WaitVisible(chromedp.ID("region-eu-west-1")),
		evalInto(`document.querySelector('#secret_id').value + ' ' + document.querySelector('#region-eu-west-1').checked + ' ' + document.querySelector('#region-eu-west-3').checked`, &ticked),
	)
	if ticked != "app/bare true false" {
		t.Errorf("Replicate to eu-west-1 (%s) opens the form with %q", href, ticked)
	}

	// Compliant.
	b.run(t, "app/ready", chromedp.Navigate(s.portal+"#/secrets/app%2Fready"), until(policyShown), textOf("policy", &policy))
	if !strings.Contains(policy, "Complies with the policy") {
		t.Errorf("app/ready: %q", policy)
	}

	// Remove the extra Region from the page.
	var hash string
	b.run(t, "remove eu-west-3",
		chromedp.Navigate(s.portal+"#/secrets/app%2Fmulti"),
		until(policyShown),
		chromedp.Click(chromedp.CSS(`button[data-remove="eu-west-3"]`)),
		chromedp.WaitVisible(chromedp.ID("remove-confirm")),
		chromedp.SendKeys(chromedp.ID("remove-reason"), "extra Region"),
		chromedp.Click(chromedp.ID("remove-confirm")),
		until(`location.hash.startsWith('#/operations/')`),
		until(text("#op-state")+`.includes('Succeeded')`),
		evalInto(`location.hash`, &hash),
	)
	out, err := testenv.SecretsManager(s.awsURL, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/multi")})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.ReplicationStatus {
		if aws.ToString(r.Region) == "eu-west-3" {
			t.Fatalf("AWS still has the eu-west-3 replica")
		}
	}
	opID, _ := url.PathUnescape(strings.TrimPrefix(hash, "#/operations/"))
	var recent string
	b.run(t, "back to the secret",
		chromedp.Navigate(s.portal+"#/secrets/app%2Fmulti"),
		until(policyShown),
		evalInto(regionCells, &cells),
		textOf("policy", &policy),
		textOf("recent-operations", &recent),
	)
	if _, ok := cells["eu-west-3"]; ok || len(cells) != 1 {
		t.Errorf("after Remove the Regions are %v", cells)
	}
	if !strings.Contains(recent, opID) || !strings.Contains(recent, "Remove") {
		t.Errorf("recent operations lack the Remove %s: %q", opID, recent)
	}
	if !strings.Contains(policy, "Complies with the policy") {
		t.Errorf("after Remove the secret still drifts: %q", policy)
	}
}
