package moto_test

import (
	"context"
	"net/http"
	"runtime"
	"testing"

	"github.com/replicad/replicad/internal/moto"
)

func TestStartAndReset(t *testing.T) {
	t.Parallel()
	srv := moto.Start(t)
	resp, err := http.Get(srv.URL + "/moto-api/data.json")
	if err != nil {
		t.Fatalf("moto does not answer: %v", err)
	}
	resp.Body.Close()
	if err := srv.Reset(context.Background()); err != nil {
		t.Fatalf("Reset: %v", err)
	}
}

// fakeTB records how Start gave up. Embedding testing.TB satisfies the
// interface's unexported method; only the calls Start makes are overridden.
type fakeTB struct {
	testing.TB
	fatal, skipped bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Cleanup(func())        {}
func (f *fakeTB) Fatalf(string, ...any) { f.fatal = true; runtime.Goexit() }
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true; runtime.Goexit() }
func (f *fakeTB) Logf(string, ...any)   {}

func TestStartWithoutMoto(t *testing.T) {
	// Not parallel: it empties PATH for the whole process.
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{
		{ci: "true", wantFatal: true},
		{ci: "", wantFatal: false},
		{ci: "false", wantFatal: false},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			f := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				moto.Start(f)
			}()
			<-done
			if f.fatal != tc.wantFatal || f.skipped == tc.wantFatal {
				t.Errorf("fatal=%v skipped=%v, want fatal=%v", f.fatal, f.skipped, tc.wantFatal)
			}
		})
	}
}
