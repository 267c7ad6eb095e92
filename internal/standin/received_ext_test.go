package standin_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

type tagKey struct{}

// Options.Received reports what the service received, with the request's
// context: not a write whose client went away while it crossed the
// latency (it never reached AWS, and Stats does not count it either), nor
// a request to a Region that is down; a write that got through, with the
// values its handler's caller put in the context.
func TestReceivedIsWhatReachedTheService(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		received []string
	)
	srv, err := standin.New(standin.Options{
		Faults: standin.Faults{Latency: time.Minute},
		Received: func(ctx context.Context, api, region string) {
			tag, _ := ctx.Value(tagKey{}).(string)
			mu.Lock()
			defer mu.Unlock()
			received = append(received, tag+" "+api+" "+region)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	arrived, handled := make(chan struct{}, 10), make(chan struct{}, 10)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read whole, as the e2e tests' watcher reads it: net/http notices
		// a client going away only once the body is consumed.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		arrived <- struct{}{}
		srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tagKey{}, "tagged")))
		handled <- struct{}{}
	}))
	t.Cleanup(hs.Close)
	ctx := context.Background()
	arn, err := srv.Seed(ctx, smtest.PrimaryRegion, smtest.UniqueName("received"), "v")
	if err != nil {
		t.Fatal(err)
	}
	c := smtest.NewClientsWithoutRetries(hs.URL)
	replicate := func(ctx context.Context) error {
		_, err := c.In(smtest.PrimaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
			SecretId: aws.String(arn), AddReplicaRegions: []types.ReplicaRegionType{smtest.Region(smtest.ReplicaEU)}})
		return err
	}
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("no request %s within 30s", what)
		}
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(received)
	}

	// The client gives up while its write crosses the minute of latency.
	cut, cancel := context.WithCancel(ctx)
	sent := make(chan error, 1)
	go func() { sent <- replicate(cut) }()
	wait(arrived, "arrived")
	cancel()
	if err := <-sent; err == nil {
		t.Fatal("a write cancelled during the latency succeeded")
	}
	wait(handled, "handled after its client went away")
	if r := got(); len(r) != 0 {
		t.Errorf("a write cut off during the latency was received: %q", r)
	}
	if n := srv.Stats().Region(smtest.PrimaryRegion).APIs["ReplicateSecretToRegions"].Requests; n != 0 {
		t.Errorf("Stats counted %d ReplicateSecretToRegions; the service received none", n)
	}

	if err := srv.SetFaults(standin.Faults{DownRegions: []string{smtest.PrimaryRegion}}); err != nil {
		t.Fatal(err)
	}
	if err := replicate(ctx); err == nil {
		t.Fatal("a write to a Region that is down succeeded")
	}
	wait(arrived, "arrived")
	wait(handled, "handled")
	if r := got(); len(r) != 0 {
		t.Errorf("a write to a Region that is down was received: %q", r)
	}

	if err := srv.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := replicate(ctx); err != nil {
		t.Fatal(err)
	}
	wait(arrived, "arrived")
	wait(handled, "handled")
	if r, want := got(), []string{"tagged ReplicateSecretToRegions " + smtest.PrimaryRegion}; !slices.Equal(r, want) {
		t.Errorf("received %q, want %q", r, want)
	}
	// The cut write changed nothing: the one that got through added the
	// replica, the only one.
	d := smtest.Describe(t, c, smtest.PrimaryRegion, arn)
	if len(d.ReplicationStatus) != 1 || aws.ToString(d.ReplicationStatus[0].Region) != smtest.ReplicaEU {
		t.Errorf("replicas %s, want %s only", smtest.StatusString(d.ReplicationStatus), smtest.ReplicaEU)
	}
}
