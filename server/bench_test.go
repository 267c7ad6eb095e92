package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/testenv"
)

// BenchmarkAcceptReplicate measures accepted Replicate requests per second
// over gRPC, each durable (operation, job and, with audit on, its audit
// event committed) before the reply: the cost of the audit trail is the
// ratio of the two sub-benchmarks, measured in the same run against the same
// database server. Workers are off so only acceptance is measured.
//
//	go test ./server -run '^$' -bench AcceptReplicate -benchtime 4000x
func BenchmarkAcceptReplicate(b *testing.B) {
	for _, auditOn := range []bool{false, true} {
		b.Run(fmt.Sprintf("audit=%v", auditOn), func(b *testing.B) {
			env := testenv.Start(b, testenv.Options{
				AWSEndpoint: "http://127.0.0.1:1",
				Configure: func(c *daemon.Config) {
					c.Engine.Queue.InsertOnly = true
					c.AuditDisabled = !auditOn
					c.DBMaxConns = 32
				},
			})
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(8) // 8 x GOMAXPROCS concurrent clients
			b.ResetTimer()
			began := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{
						SecretId: fmt.Sprintf("bench/s%d", i%512),
						Regions:  []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}},
						Reason:   "benchmark",
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "req/s")
		})
	}
}

// BenchmarkGetOperation measures GetOperation over gRPC at 16 concurrent
// clients per core (SetParallelism(16)), audit on, against the audit-off
// run in the same process: the ratio is what auditing reads costs.
//
//	go test ./server -run '^$' -bench GetOperation -benchtime 4000x
func BenchmarkGetOperation(b *testing.B) {
	for _, auditOn := range []bool{false, true} {
		b.Run(fmt.Sprintf("audit=%v", auditOn), func(b *testing.B) {
			env := testenv.Start(b, testenv.Options{
				AWSEndpoint: "http://127.0.0.1:1",
				Configure: func(c *daemon.Config) {
					c.Engine.Queue.InsertOnly = true
					c.AuditDisabled = !auditOn
					c.DBMaxConns = 32
				},
			})
			ctx := context.Background()
			rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "bench/read",
				Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}, Reason: "benchmark"})
			if err != nil {
				b.Fatal(err)
			}
			id := rep.GetOperation().GetId()
			b.SetParallelism(16)
			b.ResetTimer()
			began := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "req/s")
		})
	}
}
