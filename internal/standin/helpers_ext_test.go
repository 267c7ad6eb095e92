package standin_test

import (
	"net/http/httptest"
	"testing"

	"github.com/replicad/replicad/internal/standin"
)

// startStandin serves a fresh stand-in for one test.
func startStandin(t *testing.T, opts standin.Options) (*standin.Server, string) {
	t.Helper()
	srv, err := standin.New(opts)
	if err != nil {
		t.Fatalf("standin.New: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, hs.URL
}
