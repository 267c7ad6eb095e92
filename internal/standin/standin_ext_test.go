package standin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// Stand-in-only behaviour: what moto cannot do (StopReplicationToReplica,
// InProgress, KMS keys, faults, budgets) and the stand-in's own surface
// (admin endpoints, Region from the signature).

func TestStopReplicationToReplica(t *testing.T) {
	t.Parallel()
	_, url := startStandin(t, standin.Options{})
	c := smtest.NewClients(url)
	ctx := context.Background()
	name := smtest.UniqueName("promote")
	arn := smtest.CreateSecret(t, c, smtest.PrimaryRegion, name)
	smtest.Replicate(t, c, name, false, smtest.Region(smtest.ReplicaEU), smtest.Region(smtest.ReplicaAP))
	smtest.WaitInSync(t, c, name, smtest.ReplicaEU, smtest.ReplicaAP)

	stop := func(r, id string) (*secretsmanager.StopReplicationToReplicaOutput, error) {
		return c.In(r).StopReplicationToReplica(ctx, &secretsmanager.StopReplicationToReplicaInput{SecretId: &id})
	}
	_, err := stop(smtest.PrimaryRegion, name)
	smtest.WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgPrimaryRegionCall)
	_, err = stop(smtest.OtherRegion, name)
	smtest.WantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)

	replicaARN := smtest.InRegion(arn, smtest.ReplicaEU)
	out := smtest.Check(stop(smtest.ReplicaEU, replicaARN)).Must(t)
	if aws.ToString(out.ARN) != replicaARN {
		t.Errorf("promoted ARN %q, want the replica's %q", aws.ToString(out.ARN), replicaARN)
	}
	promoted := smtest.Describe(t, c, smtest.ReplicaEU, name)
	if aws.ToString(promoted.ARN) != replicaARN || aws.ToString(promoted.PrimaryRegion) != smtest.ReplicaEU || len(promoted.ReplicationStatus) != 0 {
		t.Errorf("promoted secret: ARN %q PrimaryRegion %q ReplicationStatus %s",
			aws.ToString(promoted.ARN), aws.ToString(promoted.PrimaryRegion), smtest.StatusString(promoted.ReplicationStatus))
	}
	primary := smtest.Describe(t, c, smtest.PrimaryRegion, name)
	if len(primary.ReplicationStatus) != 1 || aws.ToString(primary.ReplicationStatus[0].Region) != smtest.ReplicaAP {
		t.Errorf("primary still lists the promoted Region: %s", smtest.StatusString(primary.ReplicationStatus))
	}

	// It is standalone now: not a replica any more, a primary of its own.
	_, err = stop(smtest.ReplicaEU, name)
	smtest.WantAPIError(t, err, standin.CodeInvalidParameter, standin.MsgPrimaryRegionCall)
	smtest.Check(c.In(smtest.ReplicaEU).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{smtest.Region(smtest.OtherRegion)},
	})).Must(t)
	if d := smtest.Describe(t, c, smtest.OtherRegion, name); aws.ToString(d.PrimaryRegion) != smtest.ReplicaEU {
		t.Errorf("replica of the promoted secret has PrimaryRegion %q", aws.ToString(d.PrimaryRegion))
	}
	// And the old primary now meets a same-name secret there.
	rep := smtest.Replicate(t, c, name, false, smtest.Region(smtest.ReplicaEU))
	if st, _ := smtest.LastStatus(rep.ReplicationStatus, smtest.ReplicaEU); st.Status != types.StatusTypeFailed {
		t.Errorf("replicating onto the promoted secret: %s, want Failed", smtest.StatusString(rep.ReplicationStatus))
	}
}

func TestReplicationDelay(t *testing.T) {
	t.Parallel()
	for _, delay := range []time.Duration{0, 2 * time.Second} {
		t.Run(delay.String(), func(t *testing.T) {
			t.Parallel()
			// In a synctest bubble the clock moves only while every
			// goroutine waits, so the reads below happen exactly where they
			// are placed relative to the delay, however loaded the machine,
			// and the test does not wait the delay out.
			synctest.Test(t, func(t *testing.T) {
				c := smtest.NewInMemoryClientsWithoutRetries(newStandin(t, standin.Options{ReplicationDelay: delay}))
				name := smtest.UniqueName("delay")
				smtest.CreateSecret(t, c, smtest.PrimaryRegion, name)
				sent := time.Now()
				rep := smtest.Replicate(t, c, name, false, smtest.Region(smtest.ReplicaEU))
				if st := rep.ReplicationStatus[0]; st.Status != types.StatusTypeInProgress || st.StatusMessage != nil {
					t.Errorf("answer shows %s %q, want InProgress without a message", st.Status, aws.ToString(st.StatusMessage))
				}
				// The replica secret exists in its Region from the start.
				smtest.Describe(t, c, smtest.ReplicaEU, name)

				first := smtest.Describe(t, c, smtest.PrimaryRegion, name).ReplicationStatus[0].Status
				switch {
				case delay == 0 && first != types.StatusTypeInSync:
					t.Errorf("with no delay the next read shows %s, want InSync", first)
				case delay > 0 && first != types.StatusTypeInProgress:
					t.Errorf("a read right after the request shows %s, want InProgress until %v", first, delay)
				}
				if delay > 0 {
					// Still InProgress just before the delay is over...
					time.Sleep(time.Until(sent.Add(delay - time.Millisecond)))
					if st := smtest.Describe(t, c, smtest.PrimaryRegion, name).ReplicationStatus[0].Status; st != types.StatusTypeInProgress {
						t.Errorf("a read %v after the request shows %s, want InProgress until %v", time.Since(sent), st, delay)
					}
				}
				// ...and InSync once it is: the stand-in never lags behind
				// its delay.
				time.Sleep(time.Until(sent.Add(delay)))
				if st := smtest.Describe(t, c, smtest.PrimaryRegion, name).ReplicationStatus[0].Status; st != types.StatusTypeInSync {
					t.Errorf("a read %v after the request shows %s, want InSync", time.Since(sent), st)
				}
				smtest.WaitInSync(t, c, name, smtest.ReplicaEU)
			})
		})
	}
}

func TestKMSKeysPerRegion(t *testing.T) {
	t.Parallel()
	_, url := startStandin(t, standin.Options{})
	c := smtest.NewClients(url)
	ctx := context.Background()
	name := smtest.UniqueName("kms")
	smtest.Check(c.In(smtest.PrimaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: aws.String("v"), KmsKeyId: aws.String("alias/primary-key"),
	})).Must(t)
	smtest.Replicate(t, c, name, false, smtest.RegionWithKey(smtest.ReplicaEU, "alias/eu-key"), smtest.Region(smtest.ReplicaAP))
	d := smtest.WaitInSync(t, c, name, smtest.ReplicaEU, smtest.ReplicaAP)
	if aws.ToString(d.KmsKeyId) != "alias/primary-key" {
		t.Errorf("primary KmsKeyId %q", aws.ToString(d.KmsKeyId))
	}
	for r, want := range map[string]string{smtest.ReplicaEU: "alias/eu-key", smtest.ReplicaAP: standin.KMSKeyIDDefault} {
		if st, _ := smtest.LastStatus(d.ReplicationStatus, r); aws.ToString(st.KmsKeyId) != want {
			t.Errorf("%s status KmsKeyId %q, want %q", r, aws.ToString(st.KmsKeyId), want)
		}
	}
	if got := smtest.Describe(t, c, smtest.ReplicaEU, name).KmsKeyId; aws.ToString(got) != "alias/eu-key" {
		t.Errorf("EU replica KmsKeyId %q", aws.ToString(got))
	}
	// AWS omits KmsKeyId from DescribeSecret for the AWS managed key.
	if got := smtest.Describe(t, c, smtest.ReplicaAP, name).KmsKeyId; got != nil {
		t.Errorf("AP replica KmsKeyId %q, want none", *got)
	}
}

func TestCreateSecretWithReplicasAndRetry(t *testing.T) {
	t.Parallel()
	_, url := startStandin(t, standin.Options{})
	c := smtest.NewClients(url)
	ctx := context.Background()
	name := smtest.UniqueName("create-replicas")
	in := &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: aws.String("v"),
		ClientRequestToken: aws.String("7d4e3a4c-0d0b-4c43-9b1e-5a1f0e2b9c11"),
		AddReplicaRegions:  []types.ReplicaRegionType{smtest.Region(smtest.ReplicaEU)},
	}
	out := smtest.Check(c.In(smtest.PrimaryRegion).CreateSecret(ctx, in)).Must(t)
	if len(out.ReplicationStatus) != 1 || out.ReplicationStatus[0].Status != types.StatusTypeInProgress {
		t.Errorf("CreateSecret ReplicationStatus %s", smtest.StatusString(out.ReplicationStatus))
	}
	// The SDK retries a timed-out create with the same token: AWS answers
	// the secret it created.
	again := smtest.Check(c.In(smtest.PrimaryRegion).CreateSecret(ctx, in)).Must(t)
	if aws.ToString(again.ARN) != aws.ToString(out.ARN) || aws.ToString(again.VersionId) != aws.ToString(out.VersionId) {
		t.Errorf("retry answered %q/%q, want %q/%q", aws.ToString(again.ARN), aws.ToString(again.VersionId), aws.ToString(out.ARN), aws.ToString(out.VersionId))
	}
	in.SecretString = aws.String("different")
	_, err := c.In(smtest.PrimaryRegion).CreateSecret(ctx, in)
	smtest.WantAPIError(t, err, standin.CodeResourceExists, "")
}

func TestGetSecretValueAndLastAccessedDate(t *testing.T) {
	t.Parallel()
	_, url := startStandin(t, standin.Options{})
	c := smtest.NewClients(url)
	ctx := context.Background()
	name := smtest.UniqueName("value")
	smtest.CreateSecret(t, c, smtest.PrimaryRegion, name)
	smtest.Replicate(t, c, name, false, smtest.Region(smtest.ReplicaEU), smtest.Region(smtest.ReplicaAP))
	v := smtest.Check(c.In(smtest.ReplicaEU).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &name})).Must(t)
	if aws.ToString(v.SecretString) != `{"k":"v"}` || len(v.VersionStages) != 1 {
		t.Errorf("GetSecretValue in the replica's Region: %q %v", aws.ToString(v.SecretString), v.VersionStages)
	}
	d := smtest.Describe(t, c, smtest.PrimaryRegion, name)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if st, _ := smtest.LastStatus(d.ReplicationStatus, smtest.ReplicaEU); st.LastAccessedDate == nil || !st.LastAccessedDate.Equal(today) {
		t.Errorf("EU LastAccessedDate %v, want %v", st.LastAccessedDate, today)
	}
	if st, _ := smtest.LastStatus(d.ReplicationStatus, smtest.ReplicaAP); st.LastAccessedDate != nil {
		t.Errorf("AP LastAccessedDate %v, want none (never read there)", st.LastAccessedDate)
	}
}

func TestListSecretsPages(t *testing.T) {
	t.Parallel()
	_, url := startStandin(t, standin.Options{})
	c := smtest.NewClients(url)
	ctx := context.Background()
	for i := range 5 {
		smtest.CreateSecret(t, c, smtest.ReplicaAP, fmt.Sprintf("list/%d", i))
	}
	smtest.CreateSecret(t, c, smtest.ReplicaAP, "other/x")
	var names []string
	p := secretsmanager.NewListSecretsPaginator(c.In(smtest.ReplicaAP), &secretsmanager.ListSecretsInput{
		MaxResults: aws.Int32(2),
		Filters:    []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"list/"}}},
	})
	pages := 0
	for p.HasMorePages() {
		page := smtest.Check(p.NextPage(ctx)).Must(t)
		pages++
		for _, s := range page.SecretList {
			names = append(names, aws.ToString(s.Name))
		}
	}
	if pages != 3 || strings.Join(names, ",") != "list/0,list/1,list/2,list/3,list/4" {
		t.Errorf("%d pages: %v", pages, names)
	}
	_, err := c.In(smtest.ReplicaAP).ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: aws.String("garbage!")})
	smtest.WantAPIError(t, err, standin.CodeInvalidNextToken, "")
	_, err = c.In(smtest.ReplicaAP).ListSecrets(ctx, &secretsmanager.ListSecretsInput{
		Filters: []types.Filter{{Key: "colour", Values: []string{"x"}}},
	})
	smtest.WantAPIError(t, err, standin.CodeInvalidParameter, "")
	for _, bad := range [][]string{nil, {"a#b"}, {strings.Repeat("a", 513)}, {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}} {
		_, err = c.In(smtest.ReplicaAP).ListSecrets(ctx, &secretsmanager.ListSecretsInput{
			Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: bad}},
		})
		smtest.WantAPIError(t, err, standin.CodeInvalidParameter, "")
	}
}

func TestSeedSecretsInBulk(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{})
	c := smtest.NewClients(url)
	ctx := context.Background()
	specs := make([]standin.SeedSecret, 0, 2000)
	for i := range 2000 {
		sp := standin.SeedSecret{Region: smtest.PrimaryRegion, Name: fmt.Sprintf("bulk/%04d", i), Tags: map[string]string{"n": fmt.Sprint(i % 3)}}
		if i%10 == 0 {
			sp.Replicas = []standin.SeedReplica{{Region: smtest.ReplicaEU, KMSKeyID: "alias/eu"}, {Region: smtest.ReplicaAP, Failed: "boom"}}
		}
		specs = append(specs, sp)
	}
	start := time.Now()
	arns, err := srv.SeedSecrets(ctx, specs)
	if err != nil || len(arns) != len(specs) {
		t.Fatalf("seed: %d arns, %v", len(arns), err)
	}
	t.Logf("seeded %d secrets in %v", len(arns), time.Since(start))
	n := 0
	p := secretsmanager.NewListSecretsPaginator(c.In(smtest.PrimaryRegion), &secretsmanager.ListSecretsInput{})
	for p.HasMorePages() {
		n += len(smtest.Check(p.NextPage(ctx)).Must(t).SecretList)
	}
	if n != len(specs) {
		t.Errorf("ListSecrets listed %d, want %d", n, len(specs))
	}
	d := smtest.Describe(t, c, smtest.PrimaryRegion, "bulk/0010")
	eu, _ := smtest.LastStatus(d.ReplicationStatus, smtest.ReplicaEU)
	ap, _ := smtest.LastStatus(d.ReplicationStatus, smtest.ReplicaAP)
	if eu.Status != types.StatusTypeInSync || aws.ToString(eu.KmsKeyId) != "alias/eu" || ap.Status != types.StatusTypeFailed || aws.ToString(ap.StatusMessage) != "boom" {
		t.Errorf("seeded replicas: %s", smtest.StatusString(d.ReplicationStatus))
	}
	if _, err := c.In(smtest.ReplicaAP).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("bulk/0010")}); err == nil {
		t.Error("a Failed seeded replica exists in its Region")
	}
	if _, err := srv.SeedSecrets(ctx, specs[:1]); err == nil {
		t.Error("seeding an existing name succeeded")
	}
	// Over HTTP, for make run and load scripts.
	resp, err := http.Post(url+"/_standin/seed", "application/json", strings.NewReader(`{"secrets":[{"region":"eu-west-1","name":"http/x","tags":{"a":"b"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "arn:aws:secretsmanager:eu-west-1:"+standin.AccountIDDefault+":secret:http/x-") {
		t.Errorf("POST seed: %d %s", resp.StatusCode, body)
	}
}

func TestRandomFaultRates(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	const n = 1000
	for _, tc := range []struct {
		name                    string
		faults                  standin.Faults
		wantThrottled, wantErrs float64 // expected fractions
	}{
		{"none", standin.Faults{}, 0, 0},
		{"throttle 30%", standin.Faults{ThrottleRate: 0.3}, 0.3, 0},
		{"errors 20%", standin.Faults{ErrorRate: 0.2}, 0, 0.2},
		// Throttling is decided first; errors apply to what is left.
		{"both", standin.Faults{ThrottleRate: 0.2, ErrorRate: 0.25}, 0.2, 0.8 * 0.25},
		{"always throttle", standin.Faults{ThrottleRate: 1}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startStandin(t, standin.Options{Faults: tc.faults})
			c := smtest.NewClientsWithoutRetries(url)
			var throttled, errs, other atomic.Int64
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for range n / 8 {
						_, err := c.In(smtest.ReplicaEU).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("missing")})
						var ae smithy.APIError
						switch {
						case !errors.As(err, &ae):
							t.Errorf("worker %d: %v", w, err)
						case ae.ErrorCode() == standin.CodeThrottling:
							throttled.Add(1)
						case ae.ErrorCode() == standin.CodeInternalServiceError && smtest.HTTPStatus(err) == http.StatusInternalServerError:
							errs.Add(1)
						case ae.ErrorCode() == standin.CodeResourceNotFound:
							other.Add(1)
						default:
							t.Errorf("worker %d: unexpected %v", w, err)
						}
					}
				})
			}
			wg.Wait()
			wantAbout(t, "throttles", throttled.Load(), n, tc.wantThrottled)
			wantAbout(t, "5xx", errs.Load(), n, tc.wantErrs)
			api := srv.Stats().Region(smtest.ReplicaEU).APIs["DescribeSecret"]
			if api.Requests != n || api.RandomThrottles != throttled.Load() || api.ServerErrors != errs.Load() ||
				api.BudgetThrottles != 0 || api.ClientErrors != other.Load() {
				t.Errorf("stats %+v, client saw %d throttles %d 5xx %d others", api, throttled.Load(), errs.Load(), other.Load())
			}
		})
	}
}

// wantAbout accepts a binomial count within 5 standard deviations: a false
// failure is then a one-in-a-million event.
func wantAbout(t *testing.T, what string, got int64, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	slack := 5 * math.Sqrt(float64(n)*p*(1-p))
	if math.Abs(float64(got)-mean) > slack {
		t.Errorf("%s: %d of %d, want %.0f ± %.0f", what, got, n, mean, slack)
	}
}

func TestLatencyAndRuntimeFaultChanges(t *testing.T) {
	t.Parallel()
	// In a synctest bubble the clock moves only while every goroutine
	// waits: a call takes exactly the injected latency, however loaded the
	// machine, and the test does not wait it out.
	synctest.Test(t, func(t *testing.T) {
		srv := newStandin(t, standin.Options{Faults: standin.Faults{Latency: 200 * time.Millisecond}})
		c := smtest.NewInMemoryClientsWithoutRetries(srv)
		ctx := context.Background()
		call := func() (time.Duration, error) {
			start := time.Now()
			_, err := c.In(smtest.PrimaryRegion).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
			return time.Since(start), err
		}
		if took, err := call(); err != nil || took != 200*time.Millisecond {
			t.Errorf("with 200ms latency: took %v, err %v", took, err)
		}
		if err := srv.SetFaults(standin.Faults{ThrottleRate: 1}); err != nil {
			t.Fatal(err)
		}
		_, err := call()
		smtest.WantAPIError(t, err, standin.CodeThrottling, standin.MsgRateExceeded)
		if err := srv.SetFaults(standin.Faults{}); err != nil {
			t.Fatal(err)
		}
		if took, err := call(); err != nil || took != 0 {
			t.Errorf("without faults: took %v, err %v", took, err)
		}
		if err := srv.SetFaults(standin.Faults{ErrorRate: 1.5}); err == nil {
			t.Error("SetFaults accepted an error rate of 1.5")
		}
		if got := srv.Faults(); !got.Equal(standin.Faults{}) {
			t.Errorf("a refused SetFaults changed faults to %+v", got)
		}
	})
}

// hammer sends writes to one Region from several goroutines at a total rate
// for a while, and reports what the client saw.
func hammer(t *testing.T, c *smtest.Clients, r string, workers int, perWorker time.Duration, d time.Duration) (sent, throttled int64) {
	t.Helper()
	var nSent, nThrottled atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Spread the workers over one interval instead of bursting.
			time.Sleep(perWorker * time.Duration(w) / time.Duration(workers))
			tick := time.NewTicker(perWorker)
			defer tick.Stop()
			for time.Since(start) < d {
				nSent.Add(1)
				// A write on a secret that does not exist: the budget counts it
				// all the same, and it changes nothing.
				_, err := c.In(r).RemoveRegionsFromReplication(context.Background(), &secretsmanager.RemoveRegionsFromReplicationInput{
					SecretId: aws.String("hammer/missing"), RemoveReplicaRegions: []string{smtest.ReplicaEU},
				})
				var ae smithy.APIError
				switch {
				case !errors.As(err, &ae):
					t.Errorf("worker %d: %v", w, err)
				case ae.ErrorCode() == standin.CodeThrottling:
					nThrottled.Add(1)
				case ae.ErrorCode() != standin.CodeResourceNotFound:
					t.Errorf("worker %d: unexpected %v", w, err)
				}
				<-tick.C
			}
		})
	}
	wg.Wait()
	return nSent.Load(), nThrottled.Load()
}

func TestWriteBudgetHoldsUnderTwiceTheLoad(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	const budget = 20
	srv, url := startStandin(t, standin.Options{Faults: standin.Faults{WriteBudget: budget}})
	c := smtest.NewClientsWithoutRetries(url)
	// 4 workers at 10/s each: 40 writes per second, twice the budget.
	sent, throttled := hammer(t, c, "ca-central-1", 4, 100*time.Millisecond, 2500*time.Millisecond)

	rs := srv.Stats().Region("ca-central-1")
	w, api := rs.Writes, rs.APIs["RemoveRegionsFromReplication"]
	t.Logf("sent %d, throttled %d; busiest second: %d received, %d admitted", sent, throttled, w.MaxPerSecond, w.MaxAdmittedPerSecond)
	if w.MaxAdmittedPerSecond > budget {
		t.Errorf("%d writes admitted within one second, budget %d", w.MaxAdmittedPerSecond, budget)
	}
	if w.MaxAdmittedPerSecond < budget {
		t.Errorf("busiest second admitted only %d: the budget was never reached, so the test proves nothing", w.MaxAdmittedPerSecond)
	}
	if w.MaxPerSecond < budget*3/2 {
		t.Errorf("busiest second received only %d writes: not hammering at twice the budget", w.MaxPerSecond)
	}
	if throttled == 0 || api.BudgetThrottles != throttled || api.Requests != sent || api.RandomThrottles != 0 {
		t.Errorf("client saw %d throttles of %d; stats %+v", throttled, sent, api)
	}
	if w.Requests != sent {
		t.Errorf("stats count %d writes, client sent %d", w.Requests, sent)
	}
}

func TestClientUnderBudgetIsNeverThrottled(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	const budget = 20
	srv, url := startStandin(t, standin.Options{Faults: standin.Faults{WriteBudget: budget, ReadBudget: budget}})
	c := smtest.NewClientsWithoutRetries(url)
	// 3 workers at 5/s: 15 per second, under the budget of 20.
	sent, throttled := hammer(t, c, "eu-north-1", 3, 200*time.Millisecond, 2*time.Second)
	w := srv.Stats().Region("eu-north-1").Writes
	if throttled != 0 || sent < 25 {
		t.Errorf("%d of %d writes throttled; want none", throttled, sent)
	}
	if w.MaxPerSecond > budget || w.MaxAdmittedPerSecond != w.MaxPerSecond {
		t.Errorf("busiest second %+v", w)
	}
}

func TestReadAndWriteBudgetsAreSeparate(t *testing.T) {
	t.Parallel()
	// In a synctest bubble the clock stands still while the calls run, so
	// all of them fall in one budget window, as the counts below assume:
	// over a real socket on a loaded machine they could spread over two
	// windows, each admitting its own budget.
	synctest.Test(t, func(t *testing.T) {
		srv := newStandin(t, standin.Options{Faults: standin.Faults{ReadBudget: 5, WriteBudget: 3}})
		c := smtest.NewInMemoryClientsWithoutRetries(srv)
		ctx := context.Background()
		var readThrottles int
		for range 12 {
			_, err := c.In(smtest.ReplicaAP).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("missing")})
			if smtest.APIError(t, err).ErrorCode() == standin.CodeThrottling {
				readThrottles++
			}
		}
		// Reads spent their budget; writes still have theirs, and
		// GetSecretValue is under neither.
		for i := range 3 {
			smtest.CreateSecret(t, c, smtest.ReplicaAP, fmt.Sprintf("budget/%d", i))
		}
		smtest.Check(c.In(smtest.ReplicaAP).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("budget/0")})).Must(t)
		_, err := c.In(smtest.ReplicaAP).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("budget/0")})
		smtest.WantAPIError(t, err, standin.CodeThrottling, standin.MsgRateExceeded)
		// Another Region has its own budget.
		smtest.CreateSecret(t, c, smtest.ReplicaEU, "budget/0")

		// Exactly the budget was admitted, every other read refused.
		rs := srv.Stats().Region(smtest.ReplicaAP)
		if readThrottles != 12-5 || rs.APIs["DescribeSecret"].BudgetThrottles != int64(readThrottles) || rs.Reads.MaxAdmittedPerSecond != 5 {
			t.Errorf("%d reads throttled, want 7; stats %+v", readThrottles, rs)
		}
		if rs.Writes.MaxAdmittedPerSecond != 3 || rs.APIs["DeleteSecret"].BudgetThrottles != 1 {
			t.Errorf("write stats %+v", rs)
		}
		// A second later the window has moved on: the budget is back.
		time.Sleep(time.Second)
		smtest.Check(c.In(smtest.ReplicaAP).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("budget/1")})).Must(t)
	})
}

// rawCall posts one API request without the SDK, to see the wire.
func rawCall(t *testing.T, url, target, auth, body string) (status int, header http.Header, _ map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", "secretsmanager."+target)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", b, err)
	}
	return resp.StatusCode, resp.Header, m
}

func sigv4(region string) string {
	return "AWS4-HMAC-SHA256 Credential=AKID/20260101/" + region + "/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00ff"
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestWireErrorShapeAndRegionFromSignature(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{})
	for _, tc := range []struct {
		name, target, auth, body string
		status                   int
		code                     string
	}{
		{"no Authorization", "DescribeSecret", "", `{"SecretId":"x"}`, 400, standin.CodeMissingAuthentication},
		{"garbled Authorization", "DescribeSecret", "AWS4-HMAC-SHA256 garbage", `{"SecretId":"x"}`, 400, standin.CodeIncompleteSignature},
		{"scoped to another service", "DescribeSecret", strings.Replace(sigv4(smtest.ReplicaEU), "secretsmanager", "kms", 1), `{}`, 400, standin.CodeInvalidSignature},
		{"unknown Region", "DescribeSecret", sigv4("mars-east-1"), `{}`, 400, standin.CodeInvalidSignature},
		{"unknown operation", "RotateSecret", sigv4(smtest.ReplicaEU), `{}`, 400, standin.CodeUnknownOperation},
		{"no target", "", sigv4(smtest.ReplicaEU), `{}`, 400, standin.CodeUnknownOperation},
		{"malformed JSON", "DescribeSecret", sigv4(smtest.ReplicaEU), `{"SecretId":`, 400, standin.CodeSerialization},
		{"wrong JSON type", "DescribeSecret", sigv4(smtest.ReplicaEU), `{"SecretId":42}`, 400, standin.CodeSerialization},
		{"not found", "DescribeSecret", sigv4(smtest.ReplicaEU), `{"SecretId":"x"}`, 400, standin.CodeResourceNotFound},
	} {
		code, header, body := rawCall(t, url, tc.target, tc.auth, tc.body)
		if code != tc.status || body["__type"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, body, tc.status, tc.code)
		}
		if _, ok := body["message"].(string); !ok && tc.code != standin.CodeUnknownOperation {
			t.Errorf("%s: no message in %v", tc.name, body)
		}
		if ct := header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		if id := header.Get("X-Amzn-RequestId"); !uuidPattern.MatchString(id) {
			t.Errorf("%s: request id %q is not a UUID", tc.name, id)
		}
		if et := header.Get("X-Amzn-ErrorType"); et != tc.code {
			t.Errorf("%s: X-Amzn-ErrorType %q", tc.name, et)
		}
	}
	if got := srv.Stats().Unauthenticated; got != 4 {
		t.Errorf("Unauthenticated = %d, want 4", got)
	}

	// The Region comes from the signature alone: a secret created with a
	// raw eu-west-3 signature is what the SDK's eu-west-3 client sees, and
	// only it.
	code, _, body := rawCall(t, url, "CreateSecret", sigv4(smtest.ReplicaEU), `{"Name":"raw/created","SecretString":"v"}`)
	if code != 200 {
		t.Fatalf("raw CreateSecret: %d %v", code, body)
	}
	arn, _ := body["ARN"].(string)
	smtest.WantSecretARN(t, arn, smtest.ReplicaEU, "raw/created")
	c := smtest.NewClients(url)
	if d := smtest.Describe(t, c, smtest.ReplicaEU, "raw/created"); aws.ToString(d.ARN) != arn {
		t.Errorf("SDK in %s sees %q, want %q", smtest.ReplicaEU, aws.ToString(d.ARN), arn)
	}
	_, err := c.In(smtest.PrimaryRegion).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("raw/created")})
	smtest.WantAPIError(t, err, standin.CodeResourceNotFound, standin.MsgSecretNotFound)
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{Faults: standin.Faults{WriteBudget: 7}})
	c := smtest.NewClients(url)
	admin := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url+"/_standin/"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("X-Amzn-RequestId") == "" {
			t.Errorf("%s %s: no request id", method, path)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := admin("GET", "healthz", ""); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("healthz: %d %s", code, body)
	}

	// Faults: partial updates keep the other fields.
	code, body := admin("POST", "faults", `{"throttleRate":0.25,"latency":"10ms"}`)
	var f standin.Faults
	if err := json.Unmarshal([]byte(body), &f); err != nil || code != 200 {
		t.Fatalf("POST faults: %d %s %v", code, body, err)
	}
	if f.ThrottleRate != 0.25 || f.Latency != 10*time.Millisecond || f.WriteBudget != 7 {
		t.Errorf("faults after patch: %+v", f)
	}
	want := standin.Faults{ThrottleRate: 0.25, Latency: 10 * time.Millisecond, WriteBudget: 7}
	if got := srv.Faults(); !got.Equal(want) {
		t.Errorf("Faults() = %+v, want %+v", got, want)
	}
	for _, bad := range []string{`{"throttleRate":2}`, `{"throtleRate":0.1}`, `{"latency":"soon"}`, `{"readBudget":-1}`, `not json`} {
		if code, body := admin("POST", "faults", bad); code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("POST faults %s: %d %s, want 400", bad, code, body)
		}
	}
	if got := srv.Faults(); !got.Equal(want) {
		t.Errorf("refused patches changed faults to %+v", got)
	}
	if code, body := admin("GET", "faults", ""); code != 200 || !strings.Contains(body, `"throttleRate": 0.25`) {
		t.Errorf("GET faults: %d %s", code, body)
	}
	if code, _ := admin("POST", "faults", `{"throttleRate":0,"latency":"0s"}`); code != 200 {
		t.Fatalf("clearing faults: %d", code)
	}

	// Stats reflect SDK traffic.
	smtest.CreateSecret(t, c, smtest.ReplicaEU, "admin/one")
	smtest.Describe(t, c, smtest.ReplicaEU, "admin/one")
	code, body = admin("GET", "stats", "")
	var stats standin.Stats
	if err := json.Unmarshal([]byte(body), &stats); err != nil || code != 200 {
		t.Fatalf("GET stats: %d %s %v", code, body, err)
	}
	eu := stats.Region(smtest.ReplicaEU)
	if eu.APIs["CreateSecret"].Requests != 1 || eu.APIs["DescribeSecret"].Requests != 1 || eu.Writes.MaxPerSecond != 1 || eu.Reads.Requests != 1 {
		t.Errorf("stats %s", body)
	}
	for _, key := range []string{`"regions"`, `"apis"`, `"budgetThrottles"`, `"randomThrottles"`, `"serverErrors"`, `"maxPerSecond"`, `"maxAdmittedPerSecond"`} {
		if !strings.Contains(body, key) {
			t.Errorf("stats JSON lacks %s: %s", key, body)
		}
	}

	// Seeding, then reset.
	if code, body := admin("POST", "seed-demo", ""); code != 200 || !strings.Contains(body, "prod/payments/api-key") {
		t.Errorf("seed-demo: %d %s", code, body)
	}
	if code, _ := admin("POST", "seed-demo", ""); code != 400 {
		t.Errorf("second seed-demo: %d, want 400 (the secrets exist)", code)
	}
	smtest.Describe(t, c, standin.DemoRegion, "prod/db/primary")
	if code, _ := admin("POST", "reset", ""); code != 204 {
		t.Errorf("reset: %d", code)
	}
	if s := srv.Stats(); len(s.Regions) != 0 || s.Unauthenticated != 0 {
		t.Errorf("stats after reset: %+v", s)
	}
	_, err := c.In(standin.DemoRegion).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/db/primary")})
	smtest.WantAPIError(t, err, standin.CodeResourceNotFound, "")
	if got := srv.Faults().WriteBudget; got != 7 {
		t.Errorf("reset changed faults: write budget %d", got)
	}

	if code, _ := admin("GET", "reset", ""); code != 405 {
		t.Errorf("GET reset: %d, want 405", code)
	}
	if code, _ := admin("DELETE", "faults", ""); code != 405 {
		t.Errorf("DELETE faults: %d, want 405", code)
	}
	if code, _ := admin("GET", "nothing", ""); code != 404 {
		t.Errorf("GET nothing: %d, want 404", code)
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{AccountID: "210987654321"})
	ctx := context.Background()
	arns, err := srv.SeedDemo(ctx)
	if err != nil || len(arns) != 2 {
		t.Fatalf("SeedDemo: %v %v", arns, err)
	}
	if !strings.HasPrefix(arns[0], "arn:aws:secretsmanager:us-east-1:210987654321:secret:prod/payments/api-key-") {
		t.Errorf("ARN %q", arns[0])
	}
	if len(srv.Stats().Regions) != 0 {
		t.Error("seeding counted in the stats")
	}
	d := smtest.Describe(t, smtest.NewClients(url), standin.DemoRegion, "prod/payments/api-key")
	if aws.ToString(d.ARN) != arns[0] {
		t.Errorf("seeded secret has ARN %q", aws.ToString(d.ARN))
	}
	for _, tc := range []struct{ region, name string }{
		{"mars-east-1", "x"}, {smtest.PrimaryRegion, "bad name"}, {smtest.PrimaryRegion, "prod/db/primary"},
	} {
		if _, err := srv.Seed(ctx, tc.region, tc.name, "v"); err == nil {
			t.Errorf("Seed(%s, %s) succeeded", tc.region, tc.name)
		}
	}
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []standin.Options{
		{AccountID: "12345"},
		{AccountID: "12345678901x"},
		{ReplicationDelay: -time.Second},
		{Faults: standin.Faults{ThrottleRate: -0.1}},
		{Faults: standin.Faults{WriteBudget: -1}},
		{Faults: standin.Faults{Latency: -time.Millisecond}},
	} {
		if _, err := standin.New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}

// TestConcurrentUse drives every entry point at once; its value is in
// running under -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv, url := startStandin(t, standin.Options{ReplicationDelay: 5 * time.Millisecond})
	c := smtest.NewClients(url)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 15 {
				name := fmt.Sprintf("concurrent/%d/%d", w, i)
				if _, err := c.In(smtest.PrimaryRegion).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("v")}); err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				if _, err := c.In(smtest.PrimaryRegion).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
					SecretId: &name, AddReplicaRegions: []types.ReplicaRegionType{smtest.Region(smtest.ReplicaEU), smtest.Region(smtest.ReplicaAP)},
				}); err != nil {
					t.Errorf("replicate %s: %v", name, err)
				}
				_, _ = c.In(smtest.ReplicaEU).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
				_, _ = c.In(smtest.ReplicaAP).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
				_, _ = c.In(smtest.ReplicaAP).StopReplicationToReplica(ctx, &secretsmanager.StopReplicationToReplicaInput{SecretId: &name})
				_, _ = c.In(smtest.PrimaryRegion).RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
					SecretId: &name, RemoveReplicaRegions: []string{smtest.ReplicaEU},
				})
				_, _ = c.In(smtest.PrimaryRegion).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name})
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			_ = srv.Stats()
			_ = srv.SetFaults(standin.Faults{ReadBudget: 1000 + i})
			_ = srv.Faults()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	if got := srv.Stats().Region(smtest.PrimaryRegion).APIs["CreateSecret"].Requests; got != 90 {
		t.Errorf("%d creates counted, want 90", got)
	}
}
