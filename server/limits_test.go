package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/cpucost"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// An unauthenticated caller cannot make the server spend more than a small
// constant times the size of what it sends: requests with large reasons
// (over both transports, with JWT and mutual TLS configured) are refused
// at a cost that grows linearly, the ones over the size limit without
// being decoded, and every one of them is audited.
func TestLargeRefusedRequestsCostLinearTime(t *testing.T) {
	testtier.Slow(t) // a CPU-cost measurement
	// Not parallel: cpucost counts the whole process's CPU, and parallel
	// tests' servers working meanwhile once made the REST ratio 10.2x
	// under make test's load. Sequential tests run while every parallel
	// one is paused.
	s := startSecured(t, nil)
	anon := s.bearerClient(t, "")
	noCert := testenv.HTTPClient(s.pki.ClientTLS(t, ""))
	ctx := context.Background()
	replicate := func(reason string) *replicadv1.ReplicateRequest {
		return &replicadv1.ReplicateRequest{SecretId: "prod/app/large", Regions: regions("eu-west-1"), Reason: reason}
	}
	viaGRPC := func(n int) func() {
		req := replicate(strings.Repeat("r", n))
		return func() {
			if _, err := anon.Replicate(ctx, req); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("gRPC, %d-byte reason: %v, want Unauthenticated", n, err)
			}
		}
	}
	viaREST := func(n int) func() {
		body, _ := protojson.Marshal(replicate(strings.Repeat("r", n)))
		return func() {
			if code, out := s.env.RESTAs(t, noCert, "", "POST", "/v1/secrets/prod%2Fapp%2Flarge:replicate", body); code != http.StatusUnauthorized {
				t.Fatalf("REST, %d-byte reason: HTTP %d %.200s", n, code, out)
			}
		}
	}
	const size = 100 << 10
	for name, f := range map[string]func(int) func(){"gRPC": viaGRPC, "REST": viaREST} {
		ratio := cpucost.Ratio(f(size), f(8*size))
		t.Logf("%s: a refused request with 8x the reason (%d KB) costs %.1fx the CPU", name, 8*size>>10, ratio)
		if ratio > 10 {
			t.Errorf("%s: a refused request with 8x the reason costs %.1fx the CPU", name, ratio)
		}
	}

	// Past the size limit: refused without being decoded, still audited;
	// an unauthenticated caller is told only that it is.
	_, err := anon.Replicate(ctx, replicate(strings.Repeat("r", 3<<20)))
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC, 3 MB reason, no credentials: %v, want Unauthenticated", err)
	}
	_, err = s.env.Client.Replicate(ctx, replicate(strings.Repeat("r", 3<<20)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("gRPC, 3 MB reason, client certificate: %v, want ResourceExhausted", err)
	}
	big, _ := protojson.Marshal(replicate(strings.Repeat("r", 1<<20)))
	if code, out := s.env.RESTAs(t, noCert, "", "POST", "/v1/secrets/prod%2Fapp%2Flarge:replicate", big); code != http.StatusUnauthorized && code != http.StatusBadRequest {
		t.Errorf("REST, 1 MB reason: HTTP %d %.300s", code, out)
	}
	_, err = anon.Replicate(ctx, replicate(strings.Repeat("r", 5<<20)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("gRPC, 5 MB reason: %v, want ResourceExhausted", err)
	}
	// The 3 MB request's event commits before its reply. The 5 MB one is
	// refused by grpc before any interceptor runs, and grpc reports it to
	// the audit fallback only once the reply is sent (docs/operations.md),
	// so its event is waited for, not expected at once.
	var tooLarge, longest int
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := s.env.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE code = 8), max(length(body)) FROM audit_events
		WHERE method = '/replicad.v1.ReplicationService/Replicate'`).Scan(&tooLarge, &longest); err != nil {
			t.Fatal(err)
		}
		if tooLarge >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tooLarge != 2 {
		t.Errorf("%d audit events of requests refused as too large, want 2 (3 MB and 5 MB)", tooLarge)
	}
	if longest > 64<<10 {
		t.Errorf("an audit event of a refused request holds %d bytes", longest)
	}
}

// Metadata and headers are bounded: a 15 MB authorization value is refused
// by the transport, without the server holding it; over REST a header
// larger than the limit is 431.
func TestHeadersAreBounded(t *testing.T) {
	testtier.Slow(t) // sends 240 MB of headers
	// Not parallel: the check below reads the process's allocations, and
	// parallel tests' servers allocating meanwhile once took it to 39 MB
	// under make test's load. Sequential tests run while every parallel
	// one is paused.
	env := startAPIOnly(t)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/replicad.v1.ReplicationService/Status"},
		{":authority", env.GRPCAddr()}, {"content-type", "application/grpc"}, {"te", "trailers"},
		{"authorization", "Bearer " + strings.Repeat("t", 15<<20)},
	} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1], Sensitive: true})
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 16 {
		if answered := sendHeaders(t, env.GRPCAddr(), block.Bytes()); answered {
			t.Fatalf("call %d with a 15 MB authorization header was answered by the server", i)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// The server decoded none of the 16 values: what the process allocated
	// meanwhile is a fraction of one of them.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("16 refused 15 MB headers made the process allocate %d MB", grew>>20)
	}
	if after.HeapInuse > before.HeapInuse+16<<20 {
		t.Errorf("heap in use grew from %d to %d MB", before.HeapInuse>>20, after.HeapInuse>>20)
	}

	req, _ := http.NewRequest("GET", env.BaseURL+"/v1/operations", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("REST with a 100 KB header: HTTP %d, want 431", resp.StatusCode)
	}
}

// sendHeaders opens an HTTP/2 connection and sends one stream's header
// block (split into CONTINUATION frames) whatever the server's
// SETTINGS_MAX_HEADER_LIST_SIZE says, as a hostile client would. It
// reports whether the server answered the stream with response headers,
// which it does only for a call it processed.
func sendHeaders(t *testing.T, addr string, block []byte) bool {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(conn)
	fr := http2.NewFramer(w, conn)
	var answered bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rd := http2.NewFramer(io.Discard, conn)
		for {
			f, err := rd.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.HeadersFrame:
				if f.StreamID == 1 {
					answered = true
					return
				}
			case *http2.RSTStreamFrame, *http2.GoAwayFrame:
				return
			}
		}
	}()
	if _, err := w.WriteString(http2.ClientPreface); err == nil {
		_ = fr.WriteSettings()
		const chunk = 16 << 10
		first := block[:chunk]
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true})
		for rest := block[chunk:]; len(rest) > 0; {
			n := min(chunk, len(rest))
			if fr.WriteContinuation(1, n == len(rest), rest[:n]) != nil || w.Flush() != nil {
				break
			}
			rest = rest[n:]
		}
		_ = w.Flush()
	}
	wg.Wait()
	return answered
}

// NUL bytes and over-long values are refused at the boundary, and probes
// made of them, sent alongside legitimate requests, cost none of those
// their audit events.
func TestProbesNeverCostOthersTheirAuditEvents(t *testing.T) {
	t.Parallel()
	env, sm := startWithStandin(t)
	ctx := context.Background()
	const legit = 40
	for i := range legit {
		if _, err := sm.Seed(ctx, "us-east-1", fmt.Sprintf("probe/legit-%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	probes := []func() (bool, string){
		func() (bool, string) {
			code, _ := env.REST(t, "GET", "/v1/secrets/x%00/replication", nil)
			return code == http.StatusBadRequest, fmt.Sprintf("NUL secret over REST: %d", code)
		},
		func() (bool, string) {
			_, err := env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: "x\x00"})
			return status.Code(err) == codes.InvalidArgument, fmt.Sprintf("NUL secret over gRPC: %v", err)
		},
		func() (bool, string) {
			_, err := env.Client.Status(ctx, &replicadv1.StatusRequest{SecretId: strings.Repeat("s", 900<<10)})
			return status.Code(err) == codes.InvalidArgument, fmt.Sprintf("900 KB secret over gRPC: %v", err)
		},
		func() (bool, string) {
			code, _ := env.REST(t, "GET", "/v1/secrets/"+strings.Repeat("s", 50<<10)+"/replication", nil)
			return code == http.StatusBadRequest, fmt.Sprintf("50 KB secret over REST: %d", code)
		},
		func() (bool, string) {
			_, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "probe/x", Regions: regions("eu-west-1"), RequestId: "\x00"})
			return status.Code(err) == codes.InvalidArgument, fmt.Sprintf("NUL request_id: %v", err)
		},
		func() (bool, string) {
			code, _ := env.REST(t, "POST", "/v1/secrets/probe%2Fx:replicate", `{"regions": [{"region": "eu-west-1"}], "labels": {"k\u0000": "v"}, "reason": "a\u0000b"}`)
			return code == http.StatusBadRequest, fmt.Sprintf("NUL label key and reason over REST: %d", code)
		},
		func() (bool, string) {
			_, err := env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{PageToken: "\x00" + strings.Repeat("p", 10<<10)})
			return status.Code(err) == codes.InvalidArgument, fmt.Sprintf("NUL page token: %v", err)
		},
	}
	var wg sync.WaitGroup
	ids := make([]string, legit)
	errs := make(chan string, legit*10)
	for i := range legit {
		ids[i] = uuid.NewString()
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: fmt.Sprintf("probe/legit-%d", i), Regions: regions("eu-west-1"), RequestId: ids[i]})
			if err != nil {
				errs <- fmt.Sprintf("legitimate Replicate %d: %v", i, err)
			}
		}()
		go func() {
			defer wg.Done()
			if ok, what := probes[i%len(probes)](); !ok {
				errs <- "probe not refused with InvalidArgument: " + what
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	waitChained(t, env)
	for _, id := range ids {
		var n int
		if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE request_id = $1 AND kind = 'rpc' AND code = 0`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("legitimate Replicate with request_id %s has %d audit events", id, n)
		}
	}
	var probesAudited int
	if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE code = 3`).Scan(&probesAudited); err != nil {
		t.Fatal(err)
	}
	if probesAudited < legit {
		t.Errorf("%d probes audited, want %d", probesAudited, legit)
	}
}
