package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/replicad/replicad/internal/queue"
)

// riverBaselineConns is the baseline's pool size: replicad's
// --queue-max-conns default, the pool its workers use.
const riverBaselineConns = 20

// replicateArgs is one baseline job: replicate Secret to Region.
type replicateArgs struct {
	Secret string `json:"secret"`
	Region string `json:"region"`
}

func (replicateArgs) Kind() string { return "bench.replicate" }

// replicateWorker does the AWS work of one replicad Replicate operation and
// nothing else: DescribeSecret, ReplicateSecretToRegions, DescribeSecret,
// through the same SDK against the same stand-in, with no operation rows,
// audit, budgets or progress bookkeeping. It is the floor replicad's own
// workers are measured against.
type replicateWorker struct {
	river.WorkerDefaults[replicateArgs]
	sm *secretsmanager.Client
}

func (w *replicateWorker) Work(ctx context.Context, job *river.Job[replicateArgs]) error {
	id := aws.String(job.Args.Secret)
	if _, err := w.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: id}); err != nil {
		return err
	}
	if _, err := w.sm.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId:          id,
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(job.Args.Region)}},
	}); err != nil {
		return err
	}
	out, err := w.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: id})
	if err != nil {
		return err
	}
	for _, r := range out.ReplicationStatus {
		if aws.ToString(r.Region) == job.Args.Region && r.Status == types.StatusTypeInSync {
			return nil
		}
	}
	// The stand-in's default replication delay is 0, so the replica is
	// InSync at once; anything else means the baseline did not do the work.
	return fmt.Errorf("%s not InSync in %s after replication", job.Args.Secret, job.Args.Region)
}

// riverRun is what the River baseline measured.
type riverRun struct {
	// Jobs completed, and the span they were worked in (queueWindow).
	Jobs int64
	Span time.Duration
	// Wall is from Start to the last completion seen.
	Wall time.Duration
	// CPU is PostgreSQL's and this process's while the jobs were worked.
	CPU cpuSample
}

// riverBaseline is River alone on db: n jobs inserted up front, job i
// replicating secret i%len(names) to replicaRegion(i/len(names)) on the
// stand-in (drain's mapping), then worked by one client with the given
// worker count and replicad's fetch settings. The secrets must already
// exist in the stand-in.
func (s *Stack) riverBaseline(ctx context.Context, db string, sm *Standin, names []string, n, workers int) (rr riverRun, err error) {
	cfg, err := pgxpool.ParseConfig(db)
	if err != nil {
		return rr, err
	}
	cfg.MaxConns = riverBaselineConns
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return rr, err
	}
	defer p.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	migrator, err := rivermigrate.New(riverpgxv5.New(p), &rivermigrate.Config{Logger: quiet})
	if err != nil {
		return rr, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return rr, fmt.Errorf("river migrations: %w", err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	ws := river.NewWorkers()
	river.AddWorker(ws, &replicateWorker{sm: secretsmanager.New(secretsmanager.Options{
		Region:       primaryRegion,
		BaseEndpoint: aws.String(sm.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		HTTPClient:   &http.Client{Transport: tr},
	})})
	client, err := river.NewClient(riverpgxv5.New(p), &river.Config{
		Logger:            quiet,
		Workers:           ws,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		FetchCooldown:     queue.FetchCooldownDefault,
		FetchPollInterval: queue.FetchPollIntervalDefault,
	})
	if err != nil {
		return rr, err
	}
	params := make([]river.InsertManyParams, 0, 1000)
	for i := 0; i < n; i += cap(params) {
		params = params[:0]
		for j := i; j < i+min(cap(params), n-i); j++ {
			params = append(params, river.InsertManyParams{Args: replicateArgs{Secret: names[j%len(names)], Region: replicaRegion(j / len(names))}})
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return rr, fmt.Errorf("insert jobs: %w", err)
		}
	}
	procs := map[string]*process{"standin": sm.process}
	before := s.sampleCPU(procs)
	began := time.Now()
	if err := client.Start(ctx); err != nil {
		return rr, err
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = client.Stop(stop)
	}()
	for {
		var done int64
		var failed int64
		if err := p.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE cardinality(errors) > 0)
			FROM river_job`).Scan(&done, &failed); err != nil {
			return rr, err
		}
		if failed > 0 {
			var msg string
			_ = p.QueryRow(ctx, `SELECT errors[1]->>'error' FROM river_job WHERE cardinality(errors) > 0 LIMIT 1`).Scan(&msg)
			return rr, fmt.Errorf("river baseline: %d jobs failed an attempt, e.g. %s", failed, msg)
		}
		if done >= int64(n) {
			break
		}
		if time.Since(began) > 10*time.Minute {
			return rr, fmt.Errorf("river baseline: %d of %d jobs completed after 10 minutes", done, n)
		}
		select {
		case <-ctx.Done():
			return rr, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	rr.Wall = time.Since(began)
	rr.CPU = s.sampleCPU(procs).sub(before)
	rr.Jobs, rr.Span, err = queueWindow(ctx, db)
	return rr, err
}
