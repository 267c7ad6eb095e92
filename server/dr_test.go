package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

const (
	drSource = "us-east-1"
	drTarget = "us-west-2"
	drOther  = "eu-west-1"
	drEUKey  = "alias/eu-key"
	// drAccount is in every ARN: a canary that must reach no log, audit
	// row or printable operations column.
	drAccount = "975318642097"
)

// drFleet is a stand-in with secrets whose primary is in us-east-1, their
// inventory rows in replicad's database, and a replicad on top.
type drFleet struct {
	logs  *testenv.Buffer
	sm    *standin.Server
	url   string
	env   *testenv.Env
	ready []string // ARNs: replicas InSync in us-west-2 and eu-west-1
	// noTarget have a replica in eu-west-1 only; inProgress are listed by
	// the inventory with their us-west-2 replica InProgress.
	noTarget, inProgress []string
}

func newDRFleet(t *testing.T, ready, noTarget, inProgress int) *drFleet {
	t.Helper()
	return newDRFleetWith(t, standin.Options{AccountID: drAccount}, ready, noTarget, inProgress)
}

func newDRFleetWith(t *testing.T, opts standin.Options, ready, noTarget, inProgress int) *drFleet {
	t.Helper()
	sm, hsURL := smtest.Serve(t, opts)
	f := &drFleet{sm: sm, url: hsURL, logs: &testenv.Buffer{}}
	f.env = testenv.Start(t, testenv.Options{AWSEndpoint: hsURL, Logs: f.logs})
	ctx := context.Background()
	east := testenv.SecretsManager(hsURL, drSource)
	seed := func(prefix string, i int, regions ...smtypes.ReplicaRegionType) string {
		name := fmt.Sprintf("dr/%s/%04d", prefix, i)
		arn, err := sm.Seed(ctx, drSource, name, "v")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
			SecretId: aws.String(arn), AddReplicaRegions: regions}); err != nil {
			t.Fatal(err)
		}
		return arn
	}
	west := smtypes.ReplicaRegionType{Region: aws.String(drTarget)}
	eu := smtypes.ReplicaRegionType{Region: aws.String(drOther), KmsKeyId: aws.String(drEUKey)}
	for i := range ready {
		f.ready = append(f.ready, seed("ready", i, west, eu))
	}
	for i := range noTarget {
		f.noTarget = append(f.noTarget, seed("notarget", i, eu))
	}
	for i := range inProgress {
		f.inProgress = append(f.inProgress, seed("inprogress", i, west, eu))
	}
	// The inventory, as a scan would record it: DescribeSecret readings.
	all := append(append(append([]string{}, f.ready...), f.noTarget...), f.inProgress...)
	for _, arn := range all {
		read := time.Now()
		d, err := east.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		var reps []map[string]string
		for _, r := range d.ReplicationStatus {
			st := string(r.Status)
			if contains(f.inProgress, arn) && aws.ToString(r.Region) == drTarget {
				st = "InProgress"
			}
			reps = append(reps, map[string]string{"region": aws.ToString(r.Region), "kms_key_id": aws.ToString(r.KmsKeyId), "status": st})
		}
		rj, _ := json.Marshal(reps)
		if _, err := f.env.DB.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $6)`, drAccount, drSource, arn, aws.ToString(d.Name), rj, read); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// describeIn reads a secret in region straight from the stand-in.
func (f *drFleet) describeIn(t *testing.T, region, arn string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	id := arn[:len("arn:aws:secretsmanager:")] + region + arn[len("arn:aws:secretsmanager:")+len(drSource):]
	d, err := testenv.SecretsManager(f.url, region).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatalf("describe in %s: %v", region, err)
	}
	return d
}

// checkFailedOver: every ready secret's primary is in us-west-2 with a
// replica in eu-west-1 under its own key; every unready one is untouched.
func (f *drFleet) checkFailedOver(t *testing.T) {
	t.Helper()
	for _, arn := range f.ready {
		d := f.describeIn(t, drTarget, arn)
		if got := aws.ToString(d.PrimaryRegion); got != drTarget {
			t.Errorf("%s: primary %s, want %s", arn, got, drTarget)
			continue
		}
		if len(d.ReplicationStatus) != 1 || aws.ToString(d.ReplicationStatus[0].Region) != drOther ||
			aws.ToString(d.ReplicationStatus[0].KmsKeyId) != drEUKey || d.ReplicationStatus[0].Status != smtypes.StatusTypeInSync {
			t.Errorf("%s: replicas %+v, want InSync in %s with %s", arn, d.ReplicationStatus, drOther, drEUKey)
		}
		if eu := f.describeIn(t, drOther, arn); aws.ToString(eu.PrimaryRegion) != drTarget {
			t.Errorf("%s: eu-west-1 follows %s, want %s", arn, aws.ToString(eu.PrimaryRegion), drTarget)
		}
	}
	for _, arn := range append(append([]string{}, f.noTarget...), f.inProgress...) {
		if eu := f.describeIn(t, drOther, arn); aws.ToString(eu.PrimaryRegion) != drSource {
			t.Errorf("unready %s was touched: eu-west-1 follows %s", arn, aws.ToString(eu.PrimaryRegion))
		}
	}
}

func (f *drFleet) writes(region, api string) int64 {
	return f.sm.Stats().Region(region).APIs[api].Requests
}

func drClient(e *testenv.Env) replicadv1.DisasterRecoveryServiceClient {
	return replicadv1.NewDisasterRecoveryServiceClient(e.Conn)
}

// Readiness, the plan and a whole-Region failover with us-east-1 down,
// over gRPC and REST.
func TestFailoverRegionDown(t *testing.T) {
	t.Parallel()
	testFailoverRegionDown(t, 12, 3, 2)
}

// The size: 500 secrets.
func TestFailover500Secrets(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	testFailoverRegionDown(t, 470, 20, 10)
}

func testFailoverRegionDown(t *testing.T, ready, noTarget, inProgress int) {
	f := newDRFleet(t, ready, noTarget, inProgress)
	ctx := context.Background()
	dr := drClient(f.env)
	total := ready + noTarget + inProgress

	// Readiness, gRPC and REST agree.
	rd, err := dr.GetRegionReadiness(ctx, &replicadv1.GetRegionReadinessRequest{Region: drSource, Target: drTarget})
	if err != nil {
		t.Fatal(err)
	}
	if rd.GetTotal() != int32(total) || rd.GetReady() != int32(ready) || len(rd.GetNoReplica()) != noTarget || len(rd.GetNotInSync()) != inProgress {
		t.Fatalf("readiness %s, want %d total, %d ready, %d without, %d InProgress", protojson.Format(rd), total, ready, noTarget, inProgress)
	}
	for _, s := range rd.GetNotInSync() {
		if s.GetStatus() != replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_PROGRESS {
			t.Errorf("not in sync %s: status %s", s.GetSecretId(), s.GetStatus())
		}
	}
	code, body := f.env.REST(t, http.MethodGet, "/v1/regions/"+drSource+"/readiness?target="+url.QueryEscape(drTarget), nil)
	var rrest replicadv1.GetRegionReadinessResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &rrest) != nil || rrest.GetReady() != int32(ready) {
		t.Fatalf("REST readiness: %d %s", code, body)
	}

	if err := f.sm.SetFaults(standin.Faults{DownRegions: []string{drSource}}); err != nil {
		t.Fatal(err)
	}
	before := f.sm.Stats()

	// The plan, over REST: nothing runs.
	code, body = f.env.REST(t, http.MethodPost, "/v1/regions/"+drSource+":failover",
		map[string]any{"target_region": drTarget, "validate_only": true})
	var plan replicadv1.FailoverResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &plan) != nil {
		t.Fatalf("validate_only: %d %s", code, body)
	}
	p := plan.GetPlan()
	if plan.GetOperation() != nil || p.GetTotal() != int32(total) || p.GetSkipped() != int32(noTarget+inProgress) ||
		p.GetPlannedWrites() != int32(3*ready) {
		t.Fatalf("plan: %s", protojson.Format(p))
	}
	for _, s := range p.GetSecrets() {
		switch {
		case contains(f.ready, s.GetSecretId()):
			if s.GetSkipReason() != "" || len(s.GetSteps()) != 3 || s.GetSteps()[0].GetRegion() != drTarget ||
				s.GetSteps()[2].GetApi() != "ReplicateSecretToRegions" || s.GetSteps()[2].GetTargetRegions()[0] != drOther {
				t.Errorf("planned %s: %s", s.GetSecretId(), protojson.Format(s))
			}
		case s.GetSkipReason() == "":
			t.Errorf("unready %s is planned", s.GetSecretId())
		}
	}
	if got := f.writes(drTarget, "StopReplicationToReplica") + f.writes(drOther, "StopReplicationToReplica"); got != 0 {
		t.Fatalf("validate_only sent %d writes", got)
	}
	rate := f.env.Config.AWS.WriteRate
	if rate == 0 {
		rate = 25 // awssm.WriteRateDefault
	}
	// The estimate: the busiest budget, us-west-2's, with two writes per
	// ready secret (eu-west-1 has one).
	if got, want := p.GetEstimatedDuration().AsDuration(), time.Duration(float64(2*ready)/rate*float64(time.Second)); got != want {
		t.Errorf("plan estimate %s, want %s", got, want)
	}

	// The failover, over gRPC.
	began := time.Now()
	resp, err := dr.Failover(ctx, &replicadv1.FailoverRequest{SourceRegion: drSource, TargetRegion: drTarget})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOperation().GetKind() != replicadv1.OperationKind_OPERATION_KIND_FAILOVER {
		t.Fatalf("operation %s", protojson.Format(resp.GetOperation()))
	}
	op := f.env.WaitOperation(t, resp.GetOperation().GetId(), 3*time.Minute)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("failover ended %s", protojson.Format(op))
	}
	took := time.Since(began)
	// The budget-bound ideal: us-west-2 takes two writes per ready secret
	// at the default write budget.
	ideal := time.Duration(float64(2*ready) / rate * float64(time.Second))
	t.Logf("failover of %d ready secrets took %s; budget-bound ideal (%d writes in %s at %.0f/s) %s",
		ready, took.Round(time.Millisecond), 2*ready, drTarget, rate, ideal.Round(time.Millisecond))
	f.checkFailedOver(t)
	after := f.sm.Stats()
	wantWrites := map[[2]string]int64{
		{drTarget, "StopReplicationToReplica"}: int64(ready),
		{drOther, "StopReplicationToReplica"}:  int64(ready),
		{drTarget, "ReplicateSecretToRegions"}: int64(ready),
	}
	for k, want := range wantWrites {
		if got := after.Region(k[0]).APIs[k[1]].Requests - before.Region(k[0]).APIs[k[1]].Requests; got != want {
			t.Errorf("%s in %s sent %d times, want %d (once per ready secret)", k[1], k[0], got, want)
		}
	}
	if got := after.Region(drSource).Total().Requests - before.Region(drSource).Total().Requests; got != 0 {
		t.Errorf("the down Region saw %d requests", got)
	}

	// Progress over REST: totals and each secret's steps with request ids.
	code, body = f.env.REST(t, http.MethodGet, "/v1/operations/"+op.GetId(), nil)
	var got replicadv1.GetOperationResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &got) != nil {
		t.Fatalf("REST GetOperation: %d %s", code, body)
	}
	d := got.GetOperation().GetDisasterRecovery()
	if d.GetSucceeded() != int32(ready) || d.GetFailed() != 0 || d.GetRemaining() != 0 || d.GetSkipped() != int32(noTarget+inProgress) {
		t.Fatalf("progress: %s", protojson.Format(d))
	}
	for _, s := range d.GetSecrets() {
		if s.GetSkipReason() != "" {
			if s.GetOperationId() != "" {
				t.Errorf("skipped %s has a child", s.GetSecretId())
			}
			continue
		}
		for _, st := range s.GetSteps() {
			if st.GetState() != replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_SUCCEEDED || st.GetRequestId() == "" {
				t.Errorf("%s step %s in %s: %s, request id %q", s.GetSecretId(), st.GetApi(), st.GetRegion(), st.GetState(), st.GetRequestId())
			}
		}
	}

	// The account in the ARNs reached no log, audit row or printable
	// operations column (the plan's ARNs travel sealed in params).
	if strings.Contains(f.logs.String(), drAccount) {
		t.Error("the account id reached the logs")
	}
	for table, q := range map[string]string{
		"audit_events": "SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM audit_events t",
		"operations": `SELECT coalesce(string_agg(concat_ws(' ', secret_key, secret_display, regions::text, steps::text,
			error_message, aws_calls::text, approval::text), E'\\n'), '') FROM operations`,
	} {
		var text string
		if err := f.env.DB.QueryRow(ctx, q).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, drAccount) {
			t.Errorf("the account id reached %s", table)
		}
	}
}

// When us-east-1 returns, Failback compares each old primary with the
// current one: the one changed in us-east-1 after the failover is refused,
// named in the plan; the others get the current primary replicated over
// their old copy, under their own key.
func TestFailbackRefusesDiverged(t *testing.T) {
	t.Parallel()
	f := newDRFleet(t, 4, 0, 0)
	ctx := context.Background()
	dr := drClient(f.env)
	if err := f.sm.SetFaults(standin.Faults{DownRegions: []string{drSource}}); err != nil {
		t.Fatal(err)
	}
	resp, err := dr.Failover(ctx, &replicadv1.FailoverRequest{SourceRegion: drSource, TargetRegion: drTarget})
	if err != nil {
		t.Fatal(err)
	}
	fo := f.env.WaitOperation(t, resp.GetOperation().GetId(), time.Minute)
	if fo.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("failover: %s", protojson.Format(fo))
	}
	// us-east-1 is back; somebody wrote to the old primary of one secret
	// meanwhile.
	if err := f.sm.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}
	diverged := f.ready[1]
	if _, err := testenv.SecretsManager(f.url, drSource).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(diverged), SecretString: aws.String("written during the outage")}); err != nil {
		t.Fatal(err)
	}

	// The plan, over REST: the diverged secret refused and named.
	code, body := f.env.REST(t, http.MethodPost, "/v1/operations/"+fo.GetId()+":failback", map[string]any{"validate_only": true})
	var planned replicadv1.FailbackResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &planned) != nil {
		t.Fatalf("failback plan: %d %s", code, body)
	}
	p := planned.GetPlan()
	if p.GetTotal() != 4 || p.GetSkipped() != 1 || p.GetPlannedWrites() != 3 || p.GetEstimatedDuration().AsDuration() <= 0 {
		t.Fatalf("failback plan: %s", protojson.Format(p))
	}
	for _, s := range p.GetSecrets() {
		if (s.GetSecretId() == diverged) != (s.GetSkipReason() != "") {
			t.Errorf("plan for %s: %s", s.GetSecretId(), protojson.Format(s))
		}
		if s.GetSecretId() == diverged && !strings.Contains(s.GetSkipReason(), "changed after the failover") {
			t.Errorf("diverged %s refused for %q", s.GetSecretId(), s.GetSkipReason())
		}
	}

	// The failback, over gRPC.
	fb, err := dr.Failback(ctx, &replicadv1.FailbackRequest{FailoverId: fo.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if fb.GetOperation().GetKind() != replicadv1.OperationKind_OPERATION_KIND_FAILBACK {
		t.Fatalf("failback operation %s", protojson.Format(fb.GetOperation()))
	}
	op := f.env.WaitOperation(t, fb.GetOperation().GetId(), time.Minute)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || op.GetDisasterRecovery().GetSucceeded() != 3 {
		t.Fatalf("failback ended %s", protojson.Format(op))
	}
	for _, arn := range f.ready {
		east := f.describeIn(t, drSource, arn)
		if arn == diverged {
			if aws.ToString(east.PrimaryRegion) != drSource {
				t.Errorf("the diverged %s was overwritten: us-east-1 follows %s", arn, aws.ToString(east.PrimaryRegion))
			}
			continue
		}
		if aws.ToString(east.PrimaryRegion) != drTarget {
			t.Errorf("%s: us-east-1 follows %q, want %s", arn, aws.ToString(east.PrimaryRegion), drTarget)
		}
		west := f.describeIn(t, drTarget, arn)
		regions := map[string]bool{}
		for _, r := range west.ReplicationStatus {
			regions[aws.ToString(r.Region)] = r.Status == smtypes.StatusTypeInSync
		}
		if !regions[drSource] || !regions[drOther] {
			t.Errorf("%s: replicas of us-west-2 %v, want InSync in %s and %s", arn, regions, drSource, drOther)
		}
	}
	// A failback of a failback, or of no failover, is refused.
	if _, err := dr.Failback(ctx, &replicadv1.FailbackRequest{FailoverId: op.GetId(), ValidateOnly: true}); err == nil {
		t.Error("failback of a failback accepted")
	}
}

// Failback's other mode moves the primary back: the plan (over REST) names
// for each secret the replication over us-east-1's copy, its promotion
// once InSync, the promotion of eu-west-1's copy and the replication from
// us-east-1 over both others; run over gRPC, it ends with us-east-1
// primary again, replicated to us-west-2 and eu-west-1 under their keys.
func TestFailbackMovesPrimaryBack(t *testing.T) {
	t.Parallel()
	f := newDRFleet(t, 3, 0, 0)
	ctx := context.Background()
	dr := drClient(f.env)
	if err := f.sm.SetFaults(standin.Faults{DownRegions: []string{drSource}}); err != nil {
		t.Fatal(err)
	}
	resp, err := dr.Failover(ctx, &replicadv1.FailoverRequest{SourceRegion: drSource, TargetRegion: drTarget})
	if err != nil {
		t.Fatal(err)
	}
	fo := f.env.WaitOperation(t, resp.GetOperation().GetId(), time.Minute)
	if fo.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("failover: %s", protojson.Format(fo))
	}
	if err := f.sm.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}
	before := f.sm.Stats()

	code, body := f.env.REST(t, http.MethodPost, "/v1/operations/"+fo.GetId()+":failback",
		map[string]any{"validate_only": true, "mode": "FAILBACK_MODE_MOVE_PRIMARY_BACK"})
	var planned replicadv1.FailbackResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &planned) != nil {
		t.Fatalf("failback plan: %d %s", code, body)
	}
	p := planned.GetPlan()
	if p.GetTotal() != 3 || p.GetSkipped() != 0 || p.GetPlannedWrites() != 12 {
		t.Fatalf("failback plan: %s", protojson.Format(p))
	}
	want := []string{
		"ReplicateSecretToRegions in us-west-2 to [us-east-1]",
		"StopReplicationToReplica in us-east-1 to []",
		"StopReplicationToReplica in eu-west-1 to []",
		"ReplicateSecretToRegions in us-east-1 to [us-west-2 eu-west-1]",
	}
	describe := func(steps []*replicadv1.DisasterRecoveryStep) []string {
		var out []string
		for _, st := range steps {
			out = append(out, fmt.Sprintf("%s in %s to %v", st.GetApi(), st.GetRegion(), st.GetTargetRegions()))
		}
		return out
	}
	for _, s := range p.GetSecrets() {
		if got := describe(s.GetSteps()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("planned steps of %s:\n%v\nwant\n%v", s.GetSecretId(), got, want)
		}
	}
	// The plan reads each old primary, and writes nothing.
	if got := f.sm.Stats().Region(drSource).Total().Requests - before.Region(drSource).Total().Requests; got != 3 {
		t.Errorf("the plan sent %d requests to %s, want one DescribeSecret per secret", got, drSource)
	}
	// An unknown mode is refused.
	code, _ = f.env.REST(t, http.MethodPost, "/v1/operations/"+fo.GetId()+":failback", map[string]any{"validate_only": true, "mode": 7})
	if code != http.StatusBadRequest {
		t.Errorf("mode 7: HTTP %d, want 400", code)
	}

	fb, err := dr.Failback(ctx, &replicadv1.FailbackRequest{FailoverId: fo.GetId(), Mode: replicadv1.FailbackMode_FAILBACK_MODE_MOVE_PRIMARY_BACK})
	if err != nil {
		t.Fatal(err)
	}
	op := f.env.WaitOperation(t, fb.GetOperation().GetId(), time.Minute)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || op.GetDisasterRecovery().GetSucceeded() != 3 {
		t.Fatalf("failback ended %s", protojson.Format(op))
	}
	for _, s := range op.GetDisasterRecovery().GetSecrets() {
		for _, st := range s.GetSteps() {
			if st.GetState() != replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_SUCCEEDED {
				t.Errorf("%s: step %s in %s %s: %s", s.GetSecretId(), st.GetApi(), st.GetRegion(), st.GetState(), st.GetMessage())
			}
		}
	}
	for _, arn := range f.ready {
		east := f.describeIn(t, drSource, arn)
		if got := aws.ToString(east.PrimaryRegion); got != drSource {
			t.Errorf("%s: primary %s, want %s back", arn, got, drSource)
			continue
		}
		reps := map[string]string{}
		for _, r := range east.ReplicationStatus {
			if r.Status == smtypes.StatusTypeInSync {
				reps[aws.ToString(r.Region)] = aws.ToString(r.KmsKeyId)
			}
		}
		if len(reps) != 2 || reps[drOther] != drEUKey || reps[drTarget] != standin.KMSKeyIDDefault {
			t.Errorf("%s: InSync replicas of us-east-1 %v, want %s and %s under %s", arn, reps, drTarget, drOther, drEUKey)
		}
		for _, region := range []string{drTarget, drOther} {
			if got := aws.ToString(f.describeIn(t, region, arn).PrimaryRegion); got != drSource {
				t.Errorf("%s: %s follows %s, want %s", arn, region, got, drSource)
			}
		}
	}
	after := f.sm.Stats()
	for k, want := range map[[2]string]int64{
		{drTarget, "ReplicateSecretToRegions"}: 3, {drSource, "StopReplicationToReplica"}: 3,
		{drOther, "StopReplicationToReplica"}: 3, {drSource, "ReplicateSecretToRegions"}: 3,
	} {
		if got := after.Region(k[0]).APIs[k[1]].Requests - before.Region(k[0]).APIs[k[1]].Requests; got != want {
			t.Errorf("%s in %s sent %d times, want %d", k[1], k[0], got, want)
		}
	}
}

// Readiness asks KMS in the target Region about each customer managed key
// an InSync replica there is under: a disabled key, and one that does not
// exist, make their secrets not ready, listed with KMS's answer; an
// enabled key and the AWS managed one leave them ready. Each key is
// described once, and the account in a key's ARN is fingerprinted.
func TestReadinessReportsUnusableKMSKeys(t *testing.T) {
	t.Parallel()
	f := newDRFleet(t, 2, 0, 0)
	ctx := context.Background()
	east := testenv.SecretsManager(f.url, drSource)
	goneKey := "arn:aws:kms:" + drTarget + ":" + drAccount + ":key/0b5c1c6e-5d3a-4c1e-9a51-2d7f3b9e8a10"
	f.sm.SetKMSKey("", drTarget, "alias/west-off", standin.KMSKeyDisabled)
	f.sm.SetKMSKey("", drTarget, "alias/west-on", standin.KMSKeyEnabled)
	byKey := map[string]string{}
	for i, key := range []string{"alias/west-off", "alias/west-off", goneKey, "alias/west-on"} {
		arn, err := f.sm.Seed(ctx, drSource, fmt.Sprintf("dr/keyed/%d", i), "v")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String(arn),
			AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String(drTarget), KmsKeyId: aws.String(key)}}}); err != nil {
			t.Fatal(err)
		}
		rj, _ := json.Marshal([]map[string]string{{"region": drTarget, "kms_key_id": key, "status": "InSync"}})
		if _, err := f.env.DB.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
			VALUES ($1, $2, $3, $4, $5, now(), now(), now())`, drAccount, drSource, arn, fmt.Sprintf("dr/keyed/%d", i), rj); err != nil {
			t.Fatal(err)
		}
		byKey[arn] = key
	}
	before := f.sm.Stats().Region(drTarget).APIs["TrentService.DescribeKey"].Requests

	check := func(t *testing.T, via string, rd *replicadv1.GetRegionReadinessResponse) {
		t.Helper()
		if rd.GetTotal() != 6 || rd.GetReady() != 3 || len(rd.GetKmsKeyUnusable()) != 3 {
			t.Fatalf("%s readiness: %s", via, protojson.Format(rd))
		}
		for _, s := range rd.GetKmsKeyUnusable() {
			want := map[string]string{"alias/west-off": "Disabled", goneKey: "Missing"}[byKey[s.GetSecretId()]]
			if s.GetKmsKeyState() != want || s.GetStatus() != replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC {
				t.Errorf("%s: %s: key state %q status %s, want %q InSync", via, s.GetSecretId(), s.GetKmsKeyState(), s.GetStatus(), want)
			}
			if !strings.Contains(s.GetMessage(), drTarget) || strings.Contains(s.GetMessage(), drAccount) {
				t.Errorf("%s: %s: message %q (want the Region named, the account not)", via, s.GetSecretId(), s.GetMessage())
			}
		}
		if contains(rd.GetReadySecretIds(), "") {
			t.Errorf("%s: empty ready id", via)
		}
	}
	rd, err := drClient(f.env).GetRegionReadiness(ctx, &replicadv1.GetRegionReadinessRequest{Region: drSource, Target: drTarget})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "gRPC", rd)
	if got := f.sm.Stats().Region(drTarget).APIs["TrentService.DescribeKey"].Requests - before; got != 3 {
		t.Errorf("readiness sent %d DescribeKey, want one per distinct customer key (3)", got)
	}
	code, body := f.env.REST(t, http.MethodGet, "/v1/regions/"+drSource+"/readiness?target="+url.QueryEscape(drTarget), nil)
	var rest replicadv1.GetRegionReadinessResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &rest) != nil {
		t.Fatalf("REST readiness: %d %s", code, body)
	}
	check(t, "REST", &rest)
	if !strings.Contains(string(body), `"kms_key_unusable"`) {
		t.Errorf("REST body lacks kms_key_unusable: %s", body)
	}
	if strings.Contains(f.logs.String(), drAccount) {
		t.Error("the account id reached the logs")
	}
}

// Moving the primary back promotes us-east-1's copy only once it is an
// InSync replica: with replicas InProgress for a while after each
// replication (as on AWS), each secret's promotion in us-east-1 comes at
// least that long after the replication over it, and the failback still
// ends with us-east-1 primary.
func TestFailbackMovePrimaryBackWaitsForInSync(t *testing.T) {
	t.Parallel()
	const delay = 700 * time.Millisecond
	f := newDRFleetWith(t, standin.Options{AccountID: drAccount, ReplicationDelay: delay}, 2, 0, 0)
	ctx := context.Background()
	dr := drClient(f.env)
	if err := f.sm.SetFaults(standin.Faults{DownRegions: []string{drSource}}); err != nil {
		t.Fatal(err)
	}
	// The seeded replicas may still be InProgress: force promotes them.
	resp, err := dr.Failover(ctx, &replicadv1.FailoverRequest{SourceRegion: drSource, TargetRegion: drTarget, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	fo := f.env.WaitOperation(t, resp.GetOperation().GetId(), time.Minute)
	if fo.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("failover: %s", protojson.Format(fo))
	}
	if err := f.sm.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}
	fb, err := dr.Failback(ctx, &replicadv1.FailbackRequest{FailoverId: fo.GetId(), Mode: replicadv1.FailbackMode_FAILBACK_MODE_MOVE_PRIMARY_BACK})
	if err != nil {
		t.Fatal(err)
	}
	op := f.env.WaitOperation(t, fb.GetOperation().GetId(), time.Minute)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || op.GetDisasterRecovery().GetSucceeded() != 2 {
		t.Fatalf("failback ended %s", protojson.Format(op))
	}
	rows, err := f.env.DB.Query(ctx, `SELECT
		(SELECT min((c->>'time')::timestamptz) FROM jsonb_array_elements(o.aws_calls) c
			WHERE c->>'api' = 'ReplicateSecretToRegions' AND c->>'region' = $2),
		(SELECT min((c->>'time')::timestamptz) FROM jsonb_array_elements(o.aws_calls) c
			WHERE c->>'api' = 'StopReplicationToReplica' AND c->>'region' = $3)
		FROM operations o WHERE o.parent_id = $1`, fb.GetOperation().GetId(), drTarget, drSource)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var replicated, promoted time.Time
		if err := rows.Scan(&replicated, &promoted); err != nil {
			t.Fatal(err)
		}
		n++
		// The promotion's call ends after the replication's answer plus
		// the delay; a few ms of slack for the two clocks' reads.
		if gap := promoted.Sub(replicated); gap < delay-20*time.Millisecond {
			t.Errorf("us-east-1's copy promoted %s after the replication over it, before it could be InSync (%s)", gap, delay)
		}
	}
	if err := rows.Err(); err != nil || n != 2 {
		t.Fatalf("%d children read: %v", n, err)
	}
	for _, arn := range f.ready {
		if got := aws.ToString(f.describeIn(t, drSource, arn).PrimaryRegion); got != drSource {
			t.Errorf("%s: primary %s, want %s back", arn, got, drSource)
		}
	}
}
