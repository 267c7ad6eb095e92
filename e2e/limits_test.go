package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// Unauthenticated callers sending large requests as fast as they can, over
// gRPC (3 MB, and just under the 1 MiB limit) and REST (just under and
// over the 1 MiB body limit), cannot keep the server from stopping: SIGTERM
// ends it within its drain, as when idle.
func TestSIGTERMStopsPromptlyUnderLargeRefusedRequests(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	pki := authtest.NewPKI(t)
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	writeAtomically(t, policyFile, policyFor("team/a/"))
	p := c.startTLS(t, "replicad", pki.ClientTLS(t, "spiffe://test/app"), append(securedFlags(pki, policyFile), "--drain-timeout", "1s")...)

	anonTLS := pki.ClientTLS(t, "")
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(anonTLS)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	anon := replicadv1.NewReplicationServiceClient(conn)
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: anonTLS}, Timeout: 30 * time.Second}
	request := func(n int) *replicadv1.ReplicateRequest {
		return &replicadv1.ReplicateRequest{SecretId: "team/a/x", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}, Reason: strings.Repeat("r", n)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				sent++
				mu.Unlock()
				switch i % 3 {
				case 0:
					_, _ = anon.Replicate(ctx, request(3<<20))
				case 1:
					_, _ = anon.Replicate(ctx, request(1<<20-200))
				case 2:
					body, _ := protojson.Marshal(request(1<<20 - 300 + i*200))
					req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+p.httpAddr+"/v1/secrets/team%2Fa%2Fx:replicate", strings.NewReader(string(body)))
					if resp, err := httpClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := sent
		mu.Unlock()
		if n >= 20 { // several requests started by every sender
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d large requests sent in 20s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if took := p.term(t, 15*time.Second); took > 8*time.Second {
		t.Errorf("SIGTERM took %s under large refused requests, with a 1s drain", took)
	}
	cancel()
	wg.Wait()
}
