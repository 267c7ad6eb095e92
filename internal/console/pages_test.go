package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/testtier"
)

// A PENDING operation (no workers here) is cancelled from its page: the
// page shows Cancel while it can be cancelled, then the end, and stops
// refreshing.
func TestCancelFromTheOperationPage(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{configure: func(c *daemon.Config) { c.Engine.Queue.InsertOnly = true }})
	code, body := s.env.REST(t, "POST", "/v1/secrets/app%2Fwaits:replicate", `{"regions":[{"region":"eu-west-1"}]}`)
	if code != http.StatusOK {
		t.Fatalf("replicate: %d %s", code, body)
	}
	var resp struct {
		Operation struct {
			ID string `json:"id"`
		} `json:"operation"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1280, 900)
	var live, approve string
	b.run(t, "open the operation",
		chromedp.Navigate(s.portal+"#/operations/"+resp.Operation.ID),
		until(text("#op-state")+`.includes('Pending')`),
		textOf("live-status", &live),
		evalInto(`[...document.querySelectorAll('.actions button')].map(b => b.textContent).join('|')`, &approve),
	)
	if !strings.Contains(live, "refreshing every second") {
		t.Errorf("a pending operation's page is not live: %q", live)
	}
	if approve != "Cancel operation…" {
		t.Errorf("actions of a pending operation: %q", approve)
	}
	b.run(t, "cancel",
		chromedp.Click(chromedp.CSS(".actions button.danger")),
		chromedp.WaitVisible(chromedp.ID("act-reason")),
		chromedp.SendKeys(chromedp.ID("act-reason"), "not needed"),
		chromedp.Click(chromedp.CSS("dialog button[type=submit]")),
		until(text("#op-state")+`.includes('Cancelled')`),
		until(`document.querySelector('#live-status')?.dataset.ended === 'true'`),
		until(`document.querySelectorAll('.actions button').length === 0`),
	)
	op, err := s.env.Client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: resp.Operation.ID})
	if err != nil || op.GetOperation().GetState() != replicadv1.OperationState_OPERATION_STATE_CANCELLED {
		t.Fatalf("after Cancel: %v %v", op, err)
	}
	var why string
	b.run(t, "why", textOf("op-error", &why))
	if why == "" {
		t.Error("a cancelled operation's page does not say why")
	}
}

// The audit page filters by method and verifies the chain on request.
func TestAuditPageFiltersAndVerifies(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{})
	s.seed(t, "app/audited")
	code, body := s.env.REST(t, "POST", "/v1/secrets/app%2Faudited:replicate", `{"regions":[{"region":"eu-west-3"}]}`)
	if code != http.StatusOK {
		t.Fatalf("replicate: %d %s", code, body)
	}
	b := newBrowser(t, 1280, 900)
	var rows string
	b.run(t, "filter",
		chromedp.Navigate(s.portal+"#/audit"),
		chromedp.WaitVisible(chromedp.ID("a-method")),
		chromedp.SendKeys(chromedp.ID("a-method"), "Replicate"),
		chromedp.Click(chromedp.CSS("form.filters button[type=submit]")),
		until(`location.hash.includes('method=Replicate')`),
		until(`document.querySelectorAll('tbody tr').length > 0`),
		evalInto(`[...document.querySelectorAll('tbody tr')].map(r => r.cells[3].textContent).join('|')`, &rows),
	)
	for _, m := range strings.Split(rows, "|") {
		if m != "Replicate" {
			t.Errorf("filtered by Replicate, the page lists %q", m)
		}
	}
	var verdict string
	b.run(t, "verify",
		chromedp.Click(chromedp.ID("verify")),
		until(`document.querySelector('#verify-result') !== null`),
		textOf("verify-result", &verdict),
	)
	if !strings.Contains(verdict, "Chain intact") || !strings.Contains(verdict, "events verified") {
		t.Errorf("verification: %q", verdict)
	}
}

// scanned is a stack whose inventory scanner lists us-east-1 of the
// stand-in continuously, with two secrets: one with an InSync replica in
// eu-west-1, one without.
func scanned(t *testing.T) *stack {
	t.Helper()
	s := startStack(t, stackOptions{configure: func(c *daemon.Config) {
		c.InventoryRegions = []string{"us-east-1"}
		c.Inventory.Interval = 100 * time.Millisecond
	}})
	s.seed(t, "app/ready", "eu-west-1")
	s.seed(t, "app/bare")
	// Wait until a scan has found both (a condition, not a delay).
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := s.env.REST(t, "GET", "/v1/regions/us-east-1/readiness?target=eu-west-1", nil)
		var r struct {
			Total int `json:"total"`
			Ready int `json:"ready"`
		}
		if code == http.StatusOK && json.Unmarshal(body, &r) == nil && r.Total == 2 && r.Ready == 1 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inventory never held both secrets: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDRReadinessPage(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := scanned(t)
	b := newBrowser(t, 1280, 900)
	var summary, page string
	b.run(t, "check readiness",
		chromedp.Navigate(s.portal+"#/dr"),
		chromedp.WaitVisible(chromedp.ID("dr-region")),
		chromedp.SetValue(chromedp.ID("dr-region"), "us-east-1"),
		chromedp.SetValue(chromedp.ID("dr-target"), "eu-west-1"),
		chromedp.Click(chromedp.CSS("form.filters button[type=submit]")),
		until(`document.querySelector('#readiness-summary') !== null`),
		textOf("readiness-summary", &summary),
		textOf("readiness", &page),
	)
	if !strings.Contains(summary, "1 of 2 secrets") || !strings.Contains(summary, "us-east-1") || !strings.Contains(summary, "eu-west-1") {
		t.Errorf("summary: %q", summary)
	}
	if !strings.Contains(page, "app/bare") || strings.Contains(page, "app/ready") {
		t.Errorf("the unready list: %q", page)
	}
}

func TestPoliciesPages(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := scanned(t)
	code, body := s.env.REST(t, "POST", "/v1/policies", appPolicy)
	if code != http.StatusOK {
		t.Fatalf("create a policy: %d %s", code, body)
	}
	b := newBrowser(t, 1280, 900)
	var list, facts, plan string
	b.run(t, "list",
		chromedp.Navigate(s.portal+"#/policies"),
		until(text("#main")+`.includes('app-dr')`),
		until(`!document.querySelector('[data-status-of="app-dr"]').textContent.includes('checking')`),
		textOf("main", &list),
	)
	if !strings.Contains(list, "Report") || !strings.Contains(list, "eu-west-1") || !strings.Contains(list, "names app/*") || !strings.Contains(list, "1 of 2 comply") {
		t.Errorf("the list: %q", list)
	}
	b.run(t, "open",
		chromedp.Click(chromedp.CSS(`a[href="#/policies/app-dr"]`)),
		until(`document.querySelector('#compliance') !== null`),
		textOf("main", &facts),
		chromedp.Click(chromedp.ID("plan")),
		until(`document.querySelector('#pplan-h') !== null`),
		textOf("policy-plan", &plan),
	)
	if !strings.Contains(facts, "1 of 2 selected secrets comply") {
		t.Errorf("the status: %q", facts)
	}
	if !strings.Contains(plan, "app/bare") || !strings.Contains(plan, "Replicate eu-west-1") || strings.Contains(plan, "app/ready") {
		t.Errorf("the plan: %q", plan)
	}
}

// appPolicy wants every app/* secret replicated to eu-west-1, reporting
// drift only.
const appPolicy = `{"name":"app-dr","selector":{"name_globs":["app/*"]},"replicas":[{"region":"eu-west-1"}],"mode":"POLICY_MODE_REPORT"}`
