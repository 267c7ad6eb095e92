package console_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/replicad/replicad/internal/testtier"
)

// loadBudget is the bound: the console loads in under 300 ms on
// loopback with 10,000 secrets in the inventory.
const loadBudget = 300 * time.Millisecond

// fleetSize is how many inventory rows the load test seeds.
const fleetSize = 10000

// renderedProbe runs in every new document before the console's scripts:
// it notes, relative to the navigation's start (performance.now()), when
// the inventory table is in the DOM with its rows, and the next frame
// after that (when the browser has painted it).
const renderedProbe = `(() => {
  const obs = new MutationObserver(() => {
    const inv = document.querySelector('#inventory');
    if (!inv || inv.getAttribute('aria-busy') !== 'false' || !inv.querySelector('tbody tr')) return;
    obs.disconnect();
    window.__rendered = performance.now();
    requestAnimationFrame(() => { window.__painted = performance.now(); });
  });
  obs.observe(document, { subtree: true, childList: true, attributes: true });
})();`

// seedFleet writes n inventory rows in one statement: two accounts, two
// primary Regions, a replica each, one in fifty Failed.
func seedFleet(t testing.TB, s *stack, n int) {
	t.Helper()
	if _, err := s.env.DB.Exec(context.Background(), `
INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
SELECT acct, reg, format('arn:aws:secretsmanager:%s:%s:secret:fleet/svc-%s-AbCdEf', reg, acct, lpad(i::text, 5, '0')),
       'fleet/svc-' || lpad(i::text, 5, '0'),
       jsonb_build_array(jsonb_build_object('region', 'eu-west-3', 'status', CASE WHEN i % 50 = 0 THEN 'Failed' ELSE 'InSync' END)),
       now(), now(), now()
FROM generate_series(1, $1) AS i,
     LATERAL (SELECT CASE WHEN i % 2 = 0 THEN $2 ELSE $3 END AS acct,
                     CASE WHEN (i / 2) % 2 = 0 THEN 'us-east-1' ELSE 'eu-west-1' END AS reg) AS x`,
		n, acctA, acctB); err != nil {
		t.Fatal(err)
	}
}

// loadRuns is how many loads each scenario measures (REPLICAD_LOAD_RUNS),
// after one warm-up load, and whether the 300 ms budget is judged. Only
// the load command (make console-load) sets it: there the timings are the
// measurement. Under make test, with the race detector and every package
// testing at once, timings measure the machine, so the test then loads
// each scenario twice, checks what the page holds and logs the times
// without judging them.
func loadRuns(t *testing.T) (runs int, judged bool) {
	t.Helper()
	v := os.Getenv("REPLICAD_LOAD_RUNS")
	if v == "" {
		return 2, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("REPLICAD_LOAD_RUNS=%q: want a positive count", v)
	}
	return n, true
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// TestConsoleLoadTime measures the Secrets page with 10,000 secrets in the
// inventory: a full load of the console from replicad on loopback (not
// through the test portal, whose extra proxy hop is no part of replicad) (the shell, its modules, the first
// page of GET /v1/secrets) in headless Chromium, from the start of the
// navigation until the inventory's rows are rendered and painted, over
// several loads, each scenario with the browser's cache (a return visit:
// the versioned assets come from it) and without (a first visit: every
// asset fetched). The page holds one server-side page of 50 rows, never
// the fleet. Run as the load command, the median of every scenario must
// stay under the 300 ms budget; p50, p95 and max are logged.
//
// Run it with
//
//	make console-load
//
// (go test -count=1 -v -run '^TestConsoleLoadTime$' ./internal/console);
// REPLICAD_LOAD_RUNS sets the number of loads of each scenario.
func TestConsoleLoadTime(t *testing.T) {
	testtier.Slow(t) // a timing test driving Chromium: the slow tier
	s := startStack(t, stackOptions{})
	seedFleet(t, s, fleetSize)
	b := newBrowser(t, 1280, 900)
	b.run(t, "probe", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: renderedProbe})
		return chromedp.Void{}, err
	})
	cache := func(disabled bool) step {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
				return chromedp.Void{}, err
			}
			_, err := cdp.Call(ctx, tg, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: disabled})
			return chromedp.Void{}, err
		}
	}
	// Paging is the server's: Next asks for the page after this one's
	// token, Previous goes back to the first.
	var first, second, back, total string
	b.run(t, "page through",
		chromedp.Navigate(s.portal+"?paging#/secrets"), until(inventoryShown), evalInto(pageNames, &first),
		textOf("inventory-total", &total),
		evalInto(`document.querySelector('#inventory').setAttribute('data-stale', ''), true`, new(bool)),
		chromedp.Click(chromedp.CSS(`.pager a:last-child`)), until(inventoryShown), evalInto(pageNames, &second),
		evalInto(`document.querySelector('#inventory').setAttribute('data-stale', ''), true`, new(bool)),
		chromedp.Click(chromedp.CSS(`.pager a:first-child`)), until(inventoryShown), evalInto(pageNames, &back),
	)
	if n := strings.Count(first, "|") + 1; n != 50 || strings.Count(second, "|")+1 != 50 || first == second || back != first {
		t.Errorf("paging: page 1 has %d rows, page 2 differs: %v, Previous returns to page 1: %v", n, first != second, back == first)
	}
	// The count at the top is the server's total across pages (fleetSize).
	if want := "10,000 secrets match, 50 on page 1"; !strings.Contains(total, want) {
		t.Errorf("the page's total reads %q, want %q", total, want)
	}
	runs, judged := loadRuns(t)
	scenarios := []struct{ name, hash string }{
		{"first page", "#/secrets"},
		{"filtered (account, Failed replicas)", "#/secrets?account=" + acctA + "&replica_status=FAILED"},
		{"by name prefix", "#/secrets?name_prefix=fleet%2Fsvc-09"},
	}
	for _, cold := range []bool{false, true} {
		b.run(t, "cache", cache(cold))
		visit := "return visit"
		if cold {
			visit = "first visit (no cache)"
		}
		for _, sc := range scenarios {
			name := sc.name + ", " + visit
			var rendered, painted, apiStart, apiTook []time.Duration
			for i := range runs + 1 {
				// A query string the shell ignores makes each load a new
				// document, not a fragment change.
				url := fmt.Sprintf("%s/ui/?load=%d%s", s.env.BaseURL, i, sc.hash)
				var r, p float64
				var api []float64
				var rows int
				var more bool
				b.run(t, name,
					chromedp.Navigate(url),
					until(`window.__painted !== undefined`),
					evalInto(`window.__rendered`, &r),
					evalInto(`window.__painted`, &p),
					evalInto(`(e => e ? [e.startTime, e.responseEnd - e.startTime] : [0, 0])(performance.getEntriesByType('resource').find(e => e.name.includes('/v1/secrets')))`, &api),
					evalInto(`document.querySelectorAll('#inventory tbody tr').length`, &rows),
					evalInto(`[...document.querySelectorAll('.pager a')].some(a => a.textContent.startsWith('Next'))`, &more),
				)
				if rows == 0 || rows > 50 || !more {
					t.Fatalf("%s: %d rows on the page, a next page: %v (want one server-side page of at most 50 and more to come)", name, rows, more)
				}
				if i == 0 {
					continue // warm-up: the first load compiles the modules
				}
				ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
				rendered, painted = append(rendered, ms(r)), append(painted, ms(p))
				apiStart, apiTook = append(apiStart, ms(api[0])), append(apiTook, ms(api[1]))
			}
			for _, d := range [][]time.Duration{rendered, painted, apiStart, apiTook} {
				slices.Sort(d)
			}
			ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
			t.Logf("%s: %d loads, %d secrets in the inventory: painted p50 %v p95 %v max %v (rendered p50 %v p95 %v); GET /v1/secrets sent at p50 %v, answered in p50 %v p95 %v",
				name, runs, fleetSize, ms(percentile(painted, 0.5)), ms(percentile(painted, 0.95)), ms(painted[len(painted)-1]),
				ms(percentile(rendered, 0.5)), ms(percentile(rendered, 0.95)),
				ms(percentile(apiStart, 0.5)), ms(percentile(apiTook, 0.5)), ms(percentile(apiTook, 0.95)))
			// The median is judged: on a shared machine the tail measures
			// the other processes as much as the console (the log has it).
			if p50 := percentile(painted, 0.5); judged && p50 >= loadBudget {
				t.Errorf("%s: p50 %v is over the %v budget", name, ms(p50), loadBudget)
			}
		}
	}
}
