package console_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// axe-core, pinned and vendored (testdata/axe-core/VERSION says which and
// from where): injected into pages by the accessibility check only.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// prefix is where the test portal mounts replicad: every browser test goes
// through it, so the console is always exercised behind a path prefix.
const prefix = "/tools/replicad"

var allowed = []string{"us-east-1", "eu-west-1", "eu-west-3", "ap-southeast-2"}

// chromiumPath finds Debian's chromium (scripts/deps.sh installs it). In CI
// its absence is a failure; elsewhere the browser tests are skipped, saying
// so.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required in CI: scripts/deps.sh installs it (apt-get install chromium)")
	}
	t.Skip("browser tests skipped: chromium is not installed and could not be (run scripts/deps.sh as root, or apt-get install chromium)")
	return ""
}

// stack is a replicad on a fresh database with the stand-in, and a portal
// in front of it mounting it under prefix (and, when token is set, acting
// as an authenticating proxy forwarding X-Forwarded-Access-Token).
type stack struct {
	env    *testenv.Env
	sm     *standin.Server
	awsURL string
	portal string // the console's address through the portal
}

type stackOptions struct {
	readOnly  bool
	configure func(*daemon.Config)
	backend   http.RoundTripper
	token     string
}

func startStack(t *testing.T, o stackOptions, tlsOpts ...*authtest.PKI) *stack {
	t.Helper()
	sm, err := standin.New(standin.Options{ReplicationDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	aws := httptest.NewServer(sm)
	t.Cleanup(aws.Close)
	opts := testenv.Options{
		AWSEndpoint: aws.URL,
		Configure: func(c *daemon.Config) {
			c.AllowedRegions = allowed
			c.UIReadOnly = o.readOnly
			if o.configure != nil {
				o.configure(c)
			}
		},
	}
	if len(tlsOpts) > 0 {
		opts.ClientTLS = tlsOpts[0].ClientTLS(t, "spiffe://test/console-admin")
	}
	env := testenv.Start(t, opts)
	backend, _ := url.Parse(env.BaseURL)
	proxy := httputil.NewSingleHostReverseProxy(backend)
	if o.backend != nil {
		proxy.Transport = o.backend
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Forwarded-Prefix", prefix)
		if o.token != "" {
			r.Header.Set("X-Forwarded-Access-Token", o.token)
		}
		proxy.ServeHTTP(w, r)
	})))
	portal := httptest.NewServer(mux)
	t.Cleanup(portal.Close)
	return &stack{env: env, sm: sm, awsURL: aws.URL, portal: portal.URL + prefix + "/ui/"}
}

// seed creates name in us-east-1, with InSync replicas in replicas.
func (s *stack) seed(t *testing.T, name string, replicas ...string) {
	t.Helper()
	ctx := context.Background()
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v")}
	for _, r := range replicas {
		in.AddReplicaRegions = append(in.AddReplicaRegions, smtypes.ReplicaRegionType{Region: aws.String(r)})
	}
	sm := testenv.SecretsManager(s.awsURL, "us-east-1")
	if _, err := sm.CreateSecret(ctx, in); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(replicas) > 0; {
		out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		insync := 0
		for _, st := range out.ReplicationStatus {
			if st.Status == smtypes.StatusTypeInSync {
				insync++
			}
		}
		if insync == len(replicas) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: replicas never InSync", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is one headless Chromium tab. Script errors and security
// (CSP) messages the page logs fail the test at its end.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

type step = chromedp.Action[chromedp.Void]

func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.errs = append(b.errs, "exception: "+msg)
		case *log.EventEntryAdded:
			// Network entries are the API's refusals the tests provoke on
			// purpose; everything else at error level (CSP violations among
			// them) is a defect.
			if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
				b.errs = append(b.errs, fmt.Sprintf("%s: %s", e.Entry.Source, e.Entry.Text))
			}
		}
	}))
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		errs := b.errs
		b.mu.Unlock()
		for _, e := range errs {
			t.Errorf("browser: %s", e)
		}
		cancel()
		cancelAlloc()
	})
	return b
}

func (b *browser) run(t *testing.T, what string, steps ...step) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("%s: %v\npage: %s", what, err, html)
	}
}

// into runs an action with a value and stores the value.
func into[T any](a chromedp.Action[T], dst *T) step {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

func textOf(id string, dst *string) step { return into(chromedp.TextContent(chromedp.ID(id)), dst) }
func textOfCSS(sel string, dst *string) step {
	return into(chromedp.TextContent(chromedp.CSS(sel)), dst)
}
func screenshot(dst *[]byte) step { return into(chromedp.FullScreenshot(100), dst) }
func evalInto[T any](expr string, dst *T) step {
	return into(chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise), dst)
}

// until waits for a JavaScript condition to hold.
func until(expr string) step {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[any](expr, chromedp.WithPollingTimeout(45*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return chromedp.Void{}, err
	}
}

func text(sel string) string {
	return fmt.Sprintf("(document.querySelector(%q)?.textContent || '')", sel)
}

func (b *browser) eval(t *testing.T, expr string, out *map[string]any) {
	t.Helper()
	b.run(t, "evaluate", evalInto(expr, out))
}

func TestReplicateThroughTheFormReachesSucceeded(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{})
	s.seed(t, "app/db")
	b := newBrowser(t, 1280, 900)
	b.run(t, "fill the form",
		chromedp.Navigate(s.portal+"#/replicate"),
		chromedp.WaitVisible(chromedp.ID("secret_id")),
		chromedp.SendKeys(chromedp.ID("secret_id"), "app/db"),
		chromedp.Click(chromedp.ID("region-eu-west-1")),
		chromedp.SendKeys(chromedp.ID("kms-eu-west-1"), "alias/eu-replicas"),
		chromedp.Click(chromedp.ID("region-ap-southeast-2")),
		chromedp.SendKeys(chromedp.ID("reason"), "console test"),
		chromedp.SendKeys(chromedp.ID("labels"), "ticket=CHG-7"),
	)
	// The plan preview (validate_only) names what would happen and stores
	// nothing.
	b.run(t, "preview", chromedp.Click(chromedp.ID("preview")), until(`document.querySelector('#plan-h') !== null`))
	var plan string
	b.run(t, "read the plan", textOf("plan", &plan))
	for _, want := range []string{"eu-west-1", "alias/eu-replicas", "ap-southeast-2", "aws/secretsmanager (default)", "us-east-1", "Pending"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan preview lacks %q: %s", want, plan)
		}
	}
	list, err := s.env.Client.ListOperations(context.Background(), &replicadv1.ListOperationsRequest{})
	if err != nil || len(list.GetOperations()) != 0 {
		t.Fatalf("the preview stored an operation: %v %v", list, err)
	}

	b.run(t, "submit and watch",
		chromedp.Click(chromedp.ID("submit")),
		until(`location.hash.startsWith('#/operations/')`),
		until(text("#op-state")+`.includes('Succeeded')`),
		until(`document.querySelector('#live-status')?.dataset.ended === 'true'`),
	)
	var page string
	b.run(t, "read the operation", textOf("main", &page))
	for _, want := range []string{"ReplicateSecretToRegions", "DescribeSecret", "InSync", "eu-west-1", "ap-southeast-2", "no longer refreshing"} {
		if !strings.Contains(page, want) {
			t.Errorf("operation page lacks %q", want)
		}
	}
	// Every AWS call shows its request id, as the API answers it.
	var hash string
	b.run(t, "location", evalInto(`location.hash`, &hash))
	id := strings.TrimPrefix(hash, "#/operations/")
	op := s.env.WaitOperation(t, id, 10*time.Second)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || len(op.GetAwsCalls()) == 0 {
		t.Fatalf("operation %v", op)
	}
	for _, c := range op.GetAwsCalls() {
		if c.GetRequestId() == "" || !strings.Contains(page, c.GetRequestId()) {
			t.Errorf("AWS call %s request id %q not on the page", c.GetApi(), c.GetRequestId())
		}
	}
	// And AWS agrees.
	out, err := testenv.SecretsManager(s.awsURL, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range out.ReplicationStatus {
		got[aws.ToString(r.Region)] = string(r.Status) + " " + aws.ToString(r.KmsKeyId)
	}
	if got["eu-west-1"] != "InSync alias/eu-replicas" || !strings.HasPrefix(got["ap-southeast-2"], "InSync") {
		t.Fatalf("AWS replicas %v", got)
	}
}

func TestBadRegionShowsItsFieldViolation(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{})
	b := newBrowser(t, 1280, 900)
	// us-east-1 is the primary's Region of a bare name here; a KMS key ARN
	// in another Region is wrong for eu-west-1. The form lists Regions in
	// order, so eu-west-1 is regions[0] and us-east-1 regions[1].
	b.run(t, "submit a bad request",
		chromedp.Navigate(s.portal+"#/replicate?secret=app%2Fdb"),
		chromedp.WaitVisible(chromedp.ID("region-us-east-1")),
		chromedp.Click(chromedp.ID("region-us-east-1")),
		chromedp.Click(chromedp.ID("region-eu-west-1")),
		chromedp.SendKeys(chromedp.ID("kms-eu-west-1"), "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
		chromedp.Click(chromedp.ID("submit")),
		until(`!document.querySelector('#region-us-east-1-error').hidden`),
	)
	var regionMsg, kmsMsg, invalid, summary string
	var focused string
	b.run(t, "read the violations",
		textOf("region-us-east-1-error", &regionMsg),
		textOf("kms-eu-west-1-error", &kmsMsg),
		evalInto(`document.querySelector('#region-us-east-1').getAttribute('aria-invalid') + ' ' + document.querySelector('#region-us-east-1').getAttribute('aria-describedby')`, &invalid),
		textOf("summary", &summary),
		evalInto(`document.activeElement.id`, &focused),
	)
	if !strings.Contains(regionMsg, "primary Region") {
		t.Errorf("us-east-1's message: %q", regionMsg)
	}
	if !strings.Contains(kmsMsg, "replica's Region") {
		t.Errorf("the KMS key's message: %q", kmsMsg)
	}
	if invalid != "true region-us-east-1-error" {
		t.Errorf("the checkbox is not marked invalid and described by its message: %q", invalid)
	}
	if !strings.Contains(summary, "regions[1].region") || !strings.Contains(summary, "regions[0].kms_key_id") || !strings.Contains(summary, "HTTP 400") {
		t.Errorf("summary: %q", summary)
	}
	if focused != "error-summary" {
		t.Errorf("focus is on %q, want the error summary", focused)
	}
	if list, err := s.env.Client.ListOperations(context.Background(), &replicadv1.ListOperationsRequest{}); err != nil || len(list.GetOperations()) != 0 {
		t.Fatalf("a refused request stored an operation: %v %v", list, err)
	}
}

func TestPromoteNeedsTheTypedRegion(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{})
	s.seed(t, "app/api", "eu-west-1")
	b := newBrowser(t, 1280, 900)
	var disabled bool
	b.run(t, "open the promote dialog",
		chromedp.Navigate(s.portal+"#/secrets/app%2Fapi"),
		// The page renders AWS's answer, then again with the policy's
		// comparison: a button found before the second render is gone by
		// the click.
		until(`document.querySelector('#secret')?.getAttribute('aria-busy') === 'false'`),
		chromedp.WaitVisible(chromedp.CSS(`button[data-promote="eu-west-1"]`)),
		chromedp.Click(chromedp.CSS(`button[data-promote="eu-west-1"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-region")),
		evalInto(`document.querySelector('#promote-confirm').disabled`, &disabled),
	)
	if !disabled {
		t.Fatal("Promote is enabled before the Region is typed")
	}
	// A near miss keeps it disabled, and Enter does not get past it.
	b.run(t, "type a near miss",
		chromedp.SendKeys(chromedp.ID("confirm-region"), "eu-west-"),
		evalInto(`document.querySelector('#promote-confirm').disabled`, &disabled),
	)
	if !disabled {
		t.Fatal("Promote is enabled by a Region typed wrong")
	}
	// Enter cannot submit past the disabled button; a script that submits
	// the form anyway is stopped by the form's own check.
	b.run(t, "press Enter", chromedp.SendKeys(chromedp.ID("confirm-region"), "\r"))
	b.run(t, "submit anyway", evalInto(`document.querySelector('dialog form').requestSubmit(), true`, new(bool)),
		until(text("dialog")+`.includes('Type eu-west-1 to confirm')`))
	if list, err := s.env.Client.ListOperations(context.Background(), &replicadv1.ListOperationsRequest{}); err != nil || len(list.GetOperations()) != 0 {
		t.Fatalf("promoted without the typed confirmation: %v %v", list, err)
	}
	b.run(t, "confirm and promote",
		chromedp.SendKeys(chromedp.ID("confirm-region"), "1"),
		until(`!document.querySelector('#promote-confirm').disabled`),
		chromedp.Click(chromedp.ID("promote-confirm")),
		until(`location.hash.startsWith('#/operations/')`),
		until(text("#op-state")+`.includes('Succeeded')`),
	)
	out, err := testenv.SecretsManager(s.awsURL, "eu-west-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/api")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.PrimaryRegion) != "" && aws.ToString(out.PrimaryRegion) != "eu-west-1" {
		t.Fatalf("eu-west-1 still follows %s", aws.ToString(out.PrimaryRegion))
	}
}

func TestReadOnlyConsoleHidesAndRefusesMutations(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{readOnly: true})
	s.seed(t, "app/ro", "eu-west-1")
	b := newBrowser(t, 1280, 900)
	var nav, buttons string
	b.run(t, "look at the secret",
		chromedp.Navigate(s.portal+"#/secrets/app%2Fro"),
		until(text("#main")+`.includes('InSync')`),
		textOfCSS("header", &nav),
		evalInto(`[...document.querySelectorAll('#main button, #main a.button')].map(b => b.textContent).join('|')`, &buttons),
	)
	if strings.Contains(nav, "Replicate") || !strings.Contains(nav, "Read-only console") {
		t.Errorf("header: %q", nav)
	}
	if buttons != "" {
		t.Errorf("mutating actions shown in read-only mode: %q", buttons)
	}
	var words string
	b.run(t, "words", until(`document.querySelector('#secret')?.getAttribute('aria-busy') === 'false'`), evalInto(`document.querySelector('#main').innerText`, &words))
	if m := strayValue.FindString(words); m != "" {
		t.Errorf("the read-only secret page shows a stray %q: %q", m, words)
	}
	var formText string
	b.run(t, "open the form anyway", chromedp.Navigate(s.portal+"#/replicate"), until(text("#main")+`.includes('read-only')`),
		textOf("main", &formText))
	if strings.Contains(formText, "Preview plan") {
		t.Errorf("the Replicate form is offered in read-only mode")
	}

	// The server refuses what the page hides, when a browser asks...
	var refused map[string]any
	b.eval(t, `fetch('../v1/secrets/app%2Fro:replicate', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({regions: [{region: 'eu-west-3'}]})}).then(async r => ({status: r.status, body: await r.json()}))`, &refused)
	body, _ := json.Marshal(refused)
	if refused["status"] != float64(http.StatusForbidden) || !strings.Contains(string(body), "CONSOLE_READ_ONLY") {
		t.Fatalf("a browser's Replicate in read-only mode: %s", body)
	}
	var verify map[string]any
	b.eval(t, `fetch('../v1/audit:verify', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => ({status: r.status}))`, &verify)
	if verify["status"] != float64(http.StatusOK) {
		t.Errorf("VerifyAudit, which changes nothing, refused in read-only mode: %v", verify)
	}
	if list, err := s.env.Client.ListOperations(context.Background(), &replicadv1.ListOperationsRequest{}); err != nil || len(list.GetOperations()) != 0 {
		t.Fatalf("read-only mode let an operation through: %v %v", list, err)
	}
	// ...and the refusal is audited like any other.
	code, events := s.env.REST(t, "GET", "/v1/audit/events?method=Replicate&outcome=PERMISSION_DENIED", nil)
	if code != http.StatusOK || !strings.Contains(string(events), "read-only") {
		t.Errorf("the read-only refusal is not in the audit trail: %d %s", code, events)
	}
	// replictl and other API clients are not the console: unaffected.
	code, resp := s.env.REST(t, "POST", "/v1/secrets/app%2Fro:replicate", `{"regions":[{"region":"eu-west-3"}]}`)
	if code != http.StatusOK {
		t.Fatalf("an API client's Replicate with the console read-only: %d %s", code, resp)
	}
}

const forbiddenPolicy = `version: 1
rules:
  - name: admins
    effect: allow
    principals: ["spiffe://test/console-admin"]
    actions: ["*"]
    secrets: ["**"]
  - name: readers
    effect: allow
    principals: [dana]
    actions: [status, operations.read, audit.read]
    secrets: ["**"]
`

// A portal authenticates dana and forwards her token as
// X-Forwarded-Access-Token; the policy lets her read, not replicate. The
// console says so in words.
func TestForbiddenActionShowsThe403InWords(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	pki := authtest.NewPKI(t)
	issuer := authtest.NewIssuer(t, pki.Dir, "https://idp.test", "replicad")
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(forbiddenPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, stackOptions{
		configure: func(c *daemon.Config) {
			c.InsecureDev = false
			c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
			c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
			c.PolicyFile = policyFile
			c.AuthTokenHeader = "X-Forwarded-Access-Token"
		},
		backend: &http.Transport{TLSClientConfig: pki.ClientTLS(t, "")},
		token:   issuer.Token(t, "dana", nil, nil),
	}, pki)
	s.seed(t, "app/locked")
	b := newBrowser(t, 1280, 900)
	// Reading works with the forwarded token...
	b.run(t, "read", chromedp.Navigate(s.portal+"#/secrets/app%2Flocked"), until(text("#primary-region")+`.includes('us-east-1')`))
	// ...replicating is refused, in words.
	var alert string
	b.run(t, "replicate",
		chromedp.Navigate(s.portal+"#/replicate?secret=app%2Flocked"),
		chromedp.WaitVisible(chromedp.ID("region-eu-west-1")),
		chromedp.Click(chromedp.ID("region-eu-west-1")),
		chromedp.Click(chromedp.ID("submit")),
		until(`document.querySelector('#summary [role=alert]') !== null`),
		textOf("summary", &alert),
	)
	for _, want := range []string{"Forbidden", "not allowed", "HTTP 403", "PERMISSION_DENIED", "replicate"} {
		if !strings.Contains(alert, want) {
			t.Errorf("the refusal lacks %q: %q", want, alert)
		}
	}
	code, events := s.env.RESTAs(t, testenv.HTTPClient(pki.ClientTLS(t, "spiffe://test/console-admin")), "", "GET", "/v1/audit/events?principal=dana&outcome=PERMISSION_DENIED", nil)
	if code != http.StatusOK || !strings.Contains(string(events), "Replicate") {
		t.Errorf("dana's refusal is not audited under her name: %d %s", code, events)
	}
}

// pages are every page of the console with something on it.
func pages(t *testing.T, s *stack) map[string]string {
	t.Helper()
	s.seed(t, "app/pages", "eu-west-1")
	code, body := s.env.REST(t, "POST", "/v1/secrets/app%2Fpages:replicate", `{"regions":[{"region":"eu-west-3"}],"reason":"pages"}`)
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
	s.env.WaitOperation(t, resp.Operation.ID, 30*time.Second)
	if code, body := s.env.REST(t, "POST", "/v1/policies", appPolicy); code != http.StatusOK {
		t.Fatalf("create a policy: %d %s", code, body)
	}
	return map[string]string{
		"policy":     "#/policies/app-dr",
		"operations": "#/operations",
		"operation":  "#/operations/" + resp.Operation.ID,
		"replicate":  "#/replicate?secret=app%2Fpages",
		"secrets":    "#/secrets",
		"secret":     "#/secrets/app%2Fpages",
		"audit":      "#/audit",
		"policies":   "#/policies",
		"dr":         "#/dr?region=us-east-1&target=eu-west-1",
	}
}

// ready is true when a page has loaded what it shows.
const ready = `!document.querySelector('[aria-busy=true]') && !document.querySelector('.loading') && document.querySelector('#main h1') !== null &&
	!(document.querySelector('#live-status')?.textContent || '').startsWith('Loading')`

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

type axeResult struct {
	Violations []axeViolation `json:"violations"`
}

// axeCheck runs axe-core on the page as it is and fails the test on
// every serious or critical violation.
func (b *browser) axeCheck(t *testing.T, name string) {
	t.Helper()
	var res axeResult
	b.run(t, "axe "+name, evalInto(axeSource+"\n;axe.run(document, {resultTypes: ['violations']})", &res))
	for _, v := range res.Violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: %s %s: %s at %v", name, v.Impact, v.ID, v.Help, v.Nodes)
		}
	}
}

// strayValue is a JavaScript value rendered as text by mistake (a null
// child given to replaceChildren prints "null").
var strayValue = regexp.MustCompile(`\b(null|undefined|NaN|\[object Object\])\b`)

func TestEveryPagePassesAxe(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{})
	targets := pages(t, s)
	for _, size := range []struct {
		name string
		w, h int
	}{{"laptop", 1280, 800}, {"narrow", 380, 800}} {
		b := newBrowser(t, size.w, size.h)
		// The check can fail: an unlabelled input is a critical violation.
		var probe axeResult
		b.run(t, "probe", chromedp.Navigate(s.portal+"#/operations"), until(ready),
			evalInto(`document.querySelector('#main').append(document.createElement('input')), true`, new(bool)),
			evalInto(axeSource+"\n;axe.run(document, {resultTypes: ['violations']})", &probe))
		if !slices.ContainsFunc(probe.Violations, func(v axeViolation) bool {
			return v.ID == "label" && v.Impact == "critical"
		}) {
			t.Fatalf("axe did not report an unlabelled input: %+v", probe)
		}
		// Navigating to the probe's own URL changes no hash and reloads
		// nothing: remove the probe, or the operations page inherits it.
		b.run(t, "unprobe", evalInto(`document.querySelector('#main > input:last-child').remove(), true`, new(bool)))
		for name, hash := range targets {
			var words string
			b.run(t, name, chromedp.Navigate(s.portal+hash), until(ready), evalInto(`document.querySelector('#main').innerText`, &words))
			if m := strayValue.FindString(words); m != "" {
				t.Errorf("%s shows a stray %q: %q", name, m, words)
			}
			var res axeResult
			b.run(t, "axe "+name, evalInto(axeSource+"\n;axe.run(document, {resultTypes: ['violations']})", &res))
			for _, v := range res.Violations {
				if v.Impact == "serious" || v.Impact == "critical" {
					t.Errorf("%s (%s): %s %s: %s at %v", name, size.name, v.Impact, v.ID, v.Help, v.Nodes)
				}
			}
		}
		if size.name == "narrow" {
			// Readable on a narrow screen: the page itself never scrolls
			// sideways (wide tables scroll in their own region).
			for name, hash := range targets {
				var overflow bool
				b.run(t, name, chromedp.Navigate(s.portal+hash), until(ready),
					evalInto(`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`, &overflow))
				if overflow {
					t.Errorf("%s scrolls sideways at %dpx", name, size.w)
				}
			}
		}
	}
}

// Keyboard alone reaches the form, the Regions and the submit button.
func TestKeyboardReachesTheForm(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	s := startStack(t, stackOptions{})
	b := newBrowser(t, 1280, 900)
	b.run(t, "load", chromedp.Navigate(s.portal+"#/replicate"), chromedp.WaitVisible(chromedp.ID("secret_id")))
	seen := map[string]bool{}
	for i := 0; i < 60 && !seen["submit"]; i++ {
		var id string
		b.run(t, "tab", chromedp.KeyEvent("\t"), evalInto(`document.activeElement.id || document.activeElement.tagName`, &id))
		seen[id] = true
	}
	for _, want := range []string{"secret_id", "region-eu-west-1", "force", "reason", "labels", "preview", "submit"} {
		if !seen[want] {
			t.Errorf("Tab never reaches #%s (reached %v)", want, seen)
		}
	}
}

// TestScreenshots writes a screenshot of every page into the directory
// REPLICAD_SCREENSHOTS names (make screenshots); skipped otherwise.
func TestScreenshots(t *testing.T) {
	testtier.Slow(t) // drives Chromium: the slow tier
	dir := os.Getenv("REPLICAD_SCREENSHOTS")
	if dir == "" {
		t.Skip("set REPLICAD_SCREENSHOTS=dir (make screenshots) to write screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, stackOptions{})
	targets := pages(t, s)
	for _, size := range []struct {
		name string
		w, h int
	}{{"laptop", 1280, 800}, {"narrow", 390, 844}} {
		b := newBrowser(t, size.w, size.h)
		for name, hash := range targets {
			var png []byte
			b.run(t, name, chromedp.Navigate(s.portal+hash), until(ready), screenshot(&png))
			if name == "replicate" {
				// The plan preview, too.
				var plan []byte
				b.run(t, "plan", chromedp.Click(chromedp.ID("region-ap-southeast-2")), chromedp.Click(chromedp.ID("preview")),
					until(`document.querySelector('#plan-h') !== null`), screenshot(&plan))
				write(t, filepath.Join(dir, fmt.Sprintf("%s-%s-plan.png", name, size.name)), plan)
			}
			write(t, filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, size.name)), png)
		}
	}
	t.Logf("screenshots in %s", dir)
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if len(b) == 0 {
		t.Fatal(errors.New("empty screenshot"))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
