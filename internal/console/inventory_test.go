package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/testtier"
)

// row is one inventory row as the scanner stores it.
type row struct {
	account, region, name string
	replicas              []replicaRow
	deleted               bool
}

type replicaRow struct {
	Region        string `json:"region"`
	KMSKeyID      string `json:"kms_key_id,omitempty"`
	Status        string `json:"status,omitempty"`
	StatusMessage string `json:"status_message,omitempty"`
}

func arnOf(r row) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", r.region, r.account, r.name)
}

// seedInventory writes rows into the inventory table, as a scan of several
// accounts would: the console then reads them through the real
// InventoryService, as it reads any inventory.
func seedInventory(t testing.TB, db *pgxpool.Pool, rows ...row) {
	t.Helper()
	now := time.Now()
	for _, r := range rows {
		reps, err := json.Marshal(append([]replicaRow{}, r.replicas...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(context.Background(), `
INSERT INTO inventory_secrets (account, region, arn, name, replicas, deleted, first_seen, last_seen, read_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)`, r.account, r.region, arnOf(r), r.name, reps, r.deleted, now); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	acctA = "111122223333"
	acctB = "444455556666"
)

// fleet is two accounts' secrets, each filter below selecting a known part.
var fleet = []row{
	{account: acctA, region: "us-east-1", name: "app/a-insync", replicas: []replicaRow{{Region: "eu-west-1", Status: "InSync"}}},
	{account: acctA, region: "us-east-1", name: "app/a-failed", replicas: []replicaRow{
		{Region: "eu-west-1", Status: "Failed", StatusMessage: "Access to KMS is not allowed"},
		{Region: "eu-west-3", Status: "InSync"}}},
	{account: acctA, region: "eu-west-1", name: "app/a-ireland"},
	{account: acctB, region: "us-east-1", name: "app/b-progress", replicas: []replicaRow{{Region: "eu-west-3", Status: "InProgress"}}},
	{account: acctB, region: "us-east-1", name: "app/b-deleting", deleted: true},
}

// listed answers what GET /v1/secrets lists for the query, or the refusal.
func (s *stack) listed(t *testing.T, q url.Values) (names []string, refusal string) {
	t.Helper()
	code, body := s.env.REST(t, "GET", "/v1/secrets?"+q.Encode(), nil)
	if code != http.StatusOK {
		var st struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(body, &st); err != nil || st.Message == "" {
			t.Fatalf("GET /v1/secrets?%s: %d %s", q.Encode(), code, body)
		}
		return nil, st.Message
	}
	var res struct {
		Secrets []struct {
			Name string `json:"name"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Secrets {
		names = append(names, s.Name)
	}
	return names, ""
}

// pageNames reads the inventory table's secret names.
const pageNames = `[...document.querySelectorAll('#inventory tbody tr th')].map(c => c.textContent).join('|')`

// inventoryShown waits until the inventory has loaded (a table, an empty
// notice or a refusal) on a page that is not one openSecrets left behind.
const inventoryShown = `document.querySelector('#inventory:not([data-stale])')?.getAttribute('aria-busy') === 'false'`

// openSecrets goes to the Secrets page at hash and waits for its
// inventory. The previous page is marked stale first: a fragment change
// renders the new page only at hashchange, after the navigation returns.
// The same hash again changes nothing, so the page is then rendered anew
// as a hashchange would.
func openSecrets(hash string) []step {
	return []step{
		evalInto(fmt.Sprintf(`document.querySelector('#inventory')?.setAttribute('data-stale', '');
if (location.hash === %[1]q) window.dispatchEvent(new HashChangeEvent('hashchange')); else location.hash = %[1]q;
true`, hash), new(bool)),
		until(inventoryShown),
	}
}

// The Secrets page lists the inventory through GET /v1/secrets, filtered by
// the server: each filter set in the form lists what the API lists for it,
// the counts at the top count what is listed, and a filter the API refuses
// (drift, on a server that computes none) is shown as the refusal in words
// with the form still there to change it.
func TestSecretsPageFiltersTheInventory(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{})
	seedInventory(t, s.env.DB, fleet...)
	b := newBrowser(t, 1280, 900)

	var names, counts string
	b.run(t, "everything",
		chromedp.Navigate(s.portal+"#/secrets"),
		until(inventoryShown),
		evalInto(pageNames, &names),
		textOf("inventory-counts", &counts),
	)
	if got := strings.Split(names, "|"); len(got) != len(fleet) {
		t.Errorf("unfiltered, the page lists %q", names)
	}
	for _, want := range []string{"5 secrets", "4 replicas", "1 failed replica", "1 scheduled for deletion", "2 accounts"} {
		if !strings.Contains(counts, want) {
			t.Errorf("counts lack %q: %q", want, counts)
		}
	}

	cases := []struct {
		name  string
		set   []step
		query url.Values
		want  []string
	}{
		{"account", []step{chromedp.SendKeys(chromedp.ID("s-account"), acctB)},
			url.Values{"account": {acctB}}, []string{"app/b-deleting", "app/b-progress"}},
		{"primary Region", []step{chromedp.SetValue(chromedp.ID("s-primary_region"), "eu-west-1")},
			url.Values{"primary_region": {"eu-west-1"}}, []string{"app/a-ireland"}},
		{"replica status", []step{chromedp.SetValue(chromedp.ID("s-replica_status"), "FAILED")},
			url.Values{"replica_status": {"REPLICATION_STATUS_FAILED"}}, []string{"app/a-failed"}},
		{"replica Region and status", []step{chromedp.SetValue(chromedp.ID("s-replica_region"), "eu-west-3"),
			chromedp.SetValue(chromedp.ID("s-replica_status"), "IN_SYNC")},
			url.Values{"replica_region": {"eu-west-3"}, "replica_status": {"REPLICATION_STATUS_IN_SYNC"}}, []string{"app/a-failed"}},
		{"account and primary Region", []step{chromedp.SendKeys(chromedp.ID("s-account"), acctA),
			chromedp.SetValue(chromedp.ID("s-primary_region"), "us-east-1")},
			url.Values{"account": {acctA}, "primary_region": {"us-east-1"}}, []string{"app/a-failed", "app/a-insync"}},
	}
	for _, c := range cases {
		api, refusal := s.listed(t, c.query)
		slices.Sort(api)
		if refusal != "" || !slices.Equal(api, c.want) {
			t.Fatalf("%s: the API lists %q (%s), the test expects %q", c.name, api, refusal, c.want)
		}
		steps := append(openSecrets("#/secrets"), c.set...)
		steps = append(steps, evalInto(`document.querySelector('#inventory').setAttribute('data-stale', ''), true`, new(bool)),
			chromedp.Click(chromedp.ID("filter")), until(inventoryShown),
			evalInto(pageNames, &names), textOf("inventory-counts", &counts))
		b.run(t, c.name, steps...)
		got := strings.Split(names, "|")
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: the page lists %q, the API %q", c.name, got, c.want)
		}
		if want := fmt.Sprintf("%d secret", len(c.want)); !strings.HasPrefix(counts, want) {
			t.Errorf("%s: counts %q, want %q", c.name, counts, want)
		}
	}
	// A filtered page keeps its filters in the form (the link is the
	// state: reload or share it).
	var kept string
	b.run(t, "reload", chromedp.Reload(), until(inventoryShown),
		evalInto(`document.querySelector('#s-account').value + ' ' + document.querySelector('#s-primary_region').value`, &kept))
	if kept != acctA+" us-east-1" {
		t.Errorf("after a reload the form holds %q", kept)
	}

	// A secret AWS cannot be read for (here: an account the stand-in has
	// never heard of) opens from the list with the inventory's reading,
	// saying so and what AWS answered.
	var cells map[string]map[string]string
	var stale string
	b.run(t, "open a secret AWS cannot read",
		append(openSecrets("#/secrets?account="+acctA+"&replica_status=FAILED"),
			chromedp.Click(chromedp.CSS(`#inventory tbody a`)),
			until(policyShown),
			evalInto(regionCells, &cells),
			textOf("stale", &stale))...)
	if !strings.Contains(stale, "inventory's last reading") || !strings.Contains(stale, "AWS answered") {
		t.Errorf("the stale notice: %q", stale)
	}
	if c := cells["eu-west-1"]; !strings.Contains(c["AWS status"], "Failed") || c["AWS message"] != "Access to KMS is not allowed" {
		t.Errorf("eu-west-1 from the inventory: %v", c)
	}
	if c := cells["eu-west-3"]; !strings.Contains(c["AWS status"], "InSync") {
		t.Errorf("eu-west-3 from the inventory: %v", c)
	}

	// Drift: the page lists what the API lists, or shows its refusal in
	// words, and stays usable.
	for _, d := range []struct {
		set   []step
		query url.Values
	}{
		{[]step{chromedp.SetValue(chromedp.ID("s-drift"), "DRIFTED")}, url.Values{"drift": {"DRIFT_FILTER_DRIFTED"}}},
		{[]step{chromedp.SetValue(chromedp.ID("s-drift_kind"), "MISSING_REGION")}, url.Values{"drift_kind": {"MISSING_REGION"}}},
	} {
		api, refusal := s.listed(t, d.query)
		steps := append(openSecrets("#/secrets"), d.set...)
		var alert string
		steps = append(steps, evalInto(`document.querySelector('#inventory').setAttribute('data-stale', ''), true`, new(bool)),
			chromedp.Click(chromedp.ID("filter")), until(inventoryShown),
			evalInto(pageNames, &names), evalInto(`document.querySelector('#inventory [role=alert]')?.textContent || ''`, &alert))
		b.run(t, "drift "+d.query.Encode(), steps...)
		if refusal != "" {
			if !strings.Contains(alert, refusal) || !strings.Contains(alert, "HTTP 400") || !strings.Contains(alert, "Could not list the inventory") {
				t.Errorf("drift %s: the API refuses with %q, the page shows %q", d.query.Encode(), refusal, alert)
			}
			var form bool
			b.run(t, "the form is still there", evalInto(`document.querySelector('#filter') !== null && document.querySelector('#s-drift') !== null`, &form))
			if !form {
				t.Errorf("after the refusal the filters are gone")
			}
			continue
		}
		got := strings.Split(names, "|")
		if names == "" {
			got = nil
		}
		slices.Sort(got)
		slices.Sort(api)
		if alert != "" || !slices.Equal(got, api) {
			t.Errorf("drift %s: the page lists %q (%q), the API %q", d.query.Encode(), got, alert, api)
		}
	}
}
