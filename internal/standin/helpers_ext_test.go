package standin_test

import (
	"net/http/httptest"
	"testing"

	"github.com/replicad/replicad/internal/standin"
)

// startStandin serves a fresh stand-in for one test.
func startStandin(t *testing.T, opts standin.Options) (*standin.Server, string) {
	t.Helper()
	srv := newStandin(t, opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, hs.URL
}

// newStandin is a fresh stand-in that is not served: a test inside a
// testing/synctest bubble reaches it with smtest's in-memory clients.
func newStandin(t *testing.T, opts standin.Options) *standin.Server {
	t.Helper()
	srv, err := standin.New(opts)
	if err != nil {
		t.Fatalf("standin.New: %v", err)
	}
	return srv
}
