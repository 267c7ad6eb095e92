package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
)

// A PENDING operation (no workers here) is cancelled from its page: the
// page shows Cancel while it can be cancelled, then the end, and stops
// refreshing.
func TestCancelFromTheOperationPage(t *testing.T) {
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
