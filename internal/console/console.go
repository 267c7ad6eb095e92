// Package console is replicad's web console: an HTML shell rendered with
// html/template and plain JavaScript modules, all embedded in the binary,
// served under /ui/ on the HTTP listener. The console holds no state and no
// handle on the engine or the store: the browser calls the REST API, so
// every check (authentication, the access policy, validation, audit)
// applies to the console exactly as to any other client.
//
// Every URL the console uses is relative (assets to the page, the API to
// the assets), so it works unchanged behind a portal that mounts replicad
// under a path prefix such as /tools/replicad/.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
)

//go:embed assets templates
var files embed.FS

// Options configure the console.
type Options struct {
	// ReadOnly hides every mutating action (the server refuses them too:
	// see server.Config.ConsoleReadOnly).
	ReadOnly bool
	// AllowedRegions are the Regions the Replicate form offers: the
	// server's allow-list.
	AllowedRegions []string
	// DefaultRegion is the primary Region assumed for bare secret names.
	DefaultRegion string
	// Version is shown in the footer.
	Version string
}

// ContentSecurityPolicy is sent with every console response: scripts,
// styles and API calls from the console's own origin only, no inline
// script or style, no plugins, no framing by any other page.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the console. Mount it at "/ui/"; it answers the shell at
// /ui/ and the assets at /ui/assets/.
type Handler struct {
	shell []byte
	// versioned is the path prefix of this build's assets
	// (/ui/assets/VERSION/), served by immutable; assets serves them
	// unversioned too, revalidated on every load, for anything that links
	// them by name.
	versioned         string
	assets, immutable http.Handler
}

// New renders the shell once: it depends on nothing but the options.
func New(opts Options) (*Handler, error) {
	tmpl, err := template.ParseFS(files, "templates/index.html")
	if err != nil {
		return nil, fmt.Errorf("console template: %w", err)
	}
	regions := slices.Clone(opts.AllowedRegions)
	slices.Sort(regions)
	if len(regions) == 0 {
		return nil, errors.New("console: no allowed Regions to offer")
	}
	version, modules, err := assetVersion()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{
		"Assets":        "assets/" + version,
		"Modules":       modules,
		"ReadOnly":      opts.ReadOnly,
		"Regions":       strings.Join(regions, ","),
		"DefaultRegion": opts.DefaultRegion,
		"Version":       opts.Version,
	}); err != nil {
		return nil, fmt.Errorf("console template: %w", err)
	}
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	fileServer := http.FileServerFS(sub)
	return &Handler{
		shell:     buf.Bytes(),
		versioned: "/ui/assets/" + version + "/",
		assets:    http.StripPrefix("/ui/assets/", fileServer),
		immutable: http.StripPrefix("/ui/assets/"+version+"/", fileServer),
	}, nil
}

// assetVersion is a digest of every asset: the shell names its assets
// under it (assets/VERSION/app.js), so a browser may keep them for good
// and a new build's shell, revalidated on every load, names new URLs. It
// also lists the modules, which the shell announces (modulepreload) so
// the browser fetches them together rather than one import at a time.
func assetVersion() (string, []string, error) {
	names, err := fs.Glob(files, "assets/*")
	if err != nil {
		return "", nil, fmt.Errorf("console assets: %w", err)
	}
	d := sha256.New()
	var modules []string
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return "", nil, fmt.Errorf("console assets: %w", err)
		}
		fmt.Fprintf(d, "%s %d\n", name, len(b))
		d.Write(b)
		if path.Ext(name) == ".js" {
			modules = append(modules, path.Base(name))
		}
	}
	return hex.EncodeToString(d.Sum(nil))[:16], modules, nil
}

// ServeHTTP serves the shell and the assets with the security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "the console is read with GET", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean(r.URL.Path)
	switch {
	case r.URL.Path == "/ui/":
		// The shell: revalidated on every load, so a new version's assets
		// are picked up at once.
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		_, _ = w.Write(h.shell)
	case strings.HasPrefix(p, h.versioned):
		// The digest in the path changes with any asset: these bytes never
		// change under this URL.
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.immutable.ServeHTTP(w, r)
	case strings.HasPrefix(p, "/ui/assets/") && strings.Count(p, "/") == 3:
		hd.Set("Cache-Control", "no-cache")
		h.assets.ServeHTTP(w, r)
	default:
		// Pages are addressed by fragment (/ui/#/operations/ID); any other
		// path under /ui/ is a mistyped link.
		http.NotFound(w, r)
	}
}

// Redirect answers /ui with the console's address, relative so that it
// holds behind a path prefix.
func Redirect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", "ui/")
	w.WriteHeader(http.StatusMovedPermanently)
}
