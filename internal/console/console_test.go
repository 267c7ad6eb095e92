package console_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/console"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/testenv"
)

func startAPIOnly(t *testing.T, configure func(*daemon.Config)) *testenv.Env {
	t.Helper()
	return testenv.Start(t, testenv.Options{
		AWSEndpoint: "http://127.0.0.1:1",
		Configure: func(c *daemon.Config) {
			c.Engine.Queue.InsertOnly = true
			c.AllowedRegions = allowed
			if configure != nil {
				configure(c)
			}
		},
	})
}

// reply is what a test reads of a response (its body already read and
// closed).
type reply struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, method, url string, header map[string]string, body string) (reply, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{StatusCode: resp.StatusCode, Header: resp.Header}, string(b)
}

var (
	inlineScript = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>`)
	anyURL       = regexp.MustCompile(`(?i)\b(?:src|href)="([^"]*)"`)
	jsImport     = regexp.MustCompile(`(?m)^import .* from '([^']*)';$`)
)

// The shell and every asset come with the security headers; nothing is
// inline, and every URL is relative, so nothing comes from elsewhere and a
// path prefix changes nothing.
func TestShellAndAssetsAreStrictAndRelative(t *testing.T) {
	env := startAPIOnly(t, nil)
	resp, html := get(t, "GET", env.BaseURL+"/ui/", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkHeaders(t, "/ui/", resp)
	for _, tag := range inlineScript.FindAllString(html, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("inline script in the shell: %s", tag)
		}
	}
	if strings.Contains(html, "<style") || strings.Contains(html, " style=") || regexp.MustCompile(`\son[a-z]+=`).MatchString(html) {
		t.Error("inline style or event handler in the shell")
	}
	if !strings.Contains(html, `data-read-only="false"`) || !strings.Contains(html, `data-regions="ap-southeast-2,eu-west-1,eu-west-3,us-east-1"`) ||
		!strings.Contains(html, `href="#/replicate"`) {
		t.Errorf("shell data: %s", html)
	}
	var urls []string
	for _, m := range anyURL.FindAllStringSubmatch(html, -1) {
		urls = append(urls, m[1])
	}
	// Every asset, and every module's imports.
	assets, err := fs.Glob(os.DirFS("assets"), "*")
	if err != nil || len(assets) < 5 {
		t.Fatalf("assets: %v %v", assets, err)
	}
	for _, a := range assets {
		resp, body := get(t, "GET", env.BaseURL+"/ui/assets/"+a, nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", a, resp.StatusCode)
			continue
		}
		checkHeaders(t, a, resp)
		want := map[string]string{".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}[path.Ext(a)]
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("%s served as %q, want %s", a, resp.Header.Get("Content-Type"), want)
		}
		for _, m := range jsImport.FindAllStringSubmatch(body, -1) {
			urls = append(urls, m[1])
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			if path.Ext(a) != ".svg" || strings.Count(body, "http") != 1 { // the SVG's xmlns
				t.Errorf("%s names an absolute URL", a)
			}
		}
	}
	for _, u := range urls {
		if strings.HasPrefix(u, "/") || strings.Contains(u, "://") || strings.HasPrefix(u, "//") {
			t.Errorf("absolute URL %q: breaks behind a path prefix or loads from elsewhere", u)
		}
	}

	// /ui redirects relatively; other methods and paths are refused.
	if resp, _ := get(t, "GET", env.BaseURL+"/ui", nil, ""); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "ui/" {
		t.Errorf("/ui: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, "POST", env.BaseURL+"/ui/", nil, ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "GET", env.BaseURL+"/ui/operations", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/ui/operations: %d", resp.StatusCode)
	}
}

func checkHeaders(t *testing.T, what string, resp reply) {
	t.Helper()
	if got := resp.Header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
		t.Errorf("%s: CSP %q", what, got)
	}
	for _, p := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(console.ContentSecurityPolicy, p) || strings.Contains(console.ContentSecurityPolicy, "unsafe-") {
			t.Errorf("CSP lacks %s or allows unsafe-*", p)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: X-Frame-Options %q, X-Content-Type-Options %q", what, resp.Header.Get("X-Frame-Options"), resp.Header.Get("X-Content-Type-Options"))
	}
}

func TestConsoleOffAndReadOnlyShell(t *testing.T) {
	off := startAPIOnly(t, func(c *daemon.Config) { c.UIOff = true })
	if resp, _ := get(t, "GET", off.BaseURL+"/ui/", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("--ui=false still serves /ui/: %d", resp.StatusCode)
	}
	ro := startAPIOnly(t, func(c *daemon.Config) { c.UIReadOnly = true })
	_, html := get(t, "GET", ro.BaseURL+"/ui/", nil, "")
	if !strings.Contains(html, `data-read-only="true"`) || strings.Contains(html, `href="#/replicate"`) || !strings.Contains(html, "Read-only console") {
		t.Errorf("read-only shell: %s", html)
	}
}

// A page of another site cannot make a browser change anything: the
// browser marks such requests, and they are refused before the API.
// Clients that are not browsers send neither mark.
func TestCrossOriginWritesAreRefused(t *testing.T) {
	env := startAPIOnly(t, nil)
	url := env.BaseURL + "/v1/secrets/app%2Fdb:replicate"
	body := `{"regions":[{"region":"eu-west-1"}]}`
	for name, h := range map[string]map[string]string{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
		"Origin of another site":    {"Origin": "https://evil.example"},
	} {
		resp, out := get(t, "POST", url, h, body)
		var st struct {
			Code int `json:"code"`
		}
		if resp.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(out), &st) != nil || st.Code != 7 {
			t.Errorf("%s: %d %s", name, resp.StatusCode, out)
		}
	}
	if resp, out := get(t, "POST", url, map[string]string{"Sec-Fetch-Site": "same-origin"}, body); resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin: %d %s", resp.StatusCode, out)
	}
	if resp, out := get(t, "POST", url, nil, body); resp.StatusCode != http.StatusOK {
		t.Errorf("a non-browser client: %d %s", resp.StatusCode, out)
	}
	if resp, out := get(t, "GET", env.BaseURL+"/v1/operations", map[string]string{"Sec-Fetch-Site": "cross-site"}, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("a cross-site read: %d %s", resp.StatusCode, out)
	}
}

// The shell names its assets under a digest of them (assets/VERSION/),
// served to be kept for good; the shell itself is revalidated on every
// load, so a new build's shell names new URLs. Another version's path is
// not served (it would be cached as this build's bytes).
func TestAssetsAreVersionedAndImmutable(t *testing.T) {
	env := startAPIOnly(t, nil)
	resp, html := get(t, "GET", env.BaseURL+"/ui/", nil, "")
	if resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("the shell's Cache-Control: %q", resp.Header.Get("Cache-Control"))
	}
	m := regexp.MustCompile(`<script type="module" src="assets/([0-9a-f]{16})/app.js">`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("the shell does not load a versioned app.js: %s", html)
	}
	preloads := regexp.MustCompile(`<link rel="modulepreload" href="assets/`+m[1]+`/([a-z]+\.js)">`).FindAllStringSubmatch(html, -1)
	modules, _ := fs.Glob(os.DirFS("assets"), "*.js")
	if len(preloads) != len(modules) {
		t.Errorf("the shell preloads %d modules of %d", len(preloads), len(modules))
	}
	for _, a := range []string{"app.js", "ui.js", "app.css", "icon.svg"} {
		resp, body := get(t, "GET", env.BaseURL+"/ui/assets/"+m[1]+"/"+a, nil, "")
		want, _ := os.ReadFile(filepath.Join("assets", a))
		if resp.StatusCode != http.StatusOK || body != string(want) || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s/%s: %d %q", m[1], a, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		checkHeaders(t, a, resp)
		if resp, _ := get(t, "GET", env.BaseURL+"/ui/assets/"+a, nil, ""); resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("unversioned %s: %d %q", a, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := get(t, "GET", env.BaseURL+"/ui/assets/0123456789abcdef/app.js", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another version's app.js: %d", resp.StatusCode)
	}
}
