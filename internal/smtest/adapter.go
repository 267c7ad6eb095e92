package smtest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/standin"
)

// attempts records what the adapter reports of each attempt.
type attempts struct {
	mu   sync.Mutex
	list []awssm.Attempt
}

func (a *attempts) ObserveAttempt(_ context.Context, at awssm.Attempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, at)
}

func (a *attempts) of(api string) []awssm.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []awssm.Attempt
	for _, at := range a.list {
		if at.API == api {
			out = append(out, at)
		}
	}
	return out
}

// adapter is replicad's own AWS adapter on the backend, with what it
// observed.
type adapter struct {
	*awssm.Client
	seen *attempts
}

func newAdapter(t *testing.T, endpoint string) *adapter {
	t.Helper()
	seen := &attempts{}
	c, err := awssm.New(context.Background(), awssm.Config{
		Endpoint:    endpoint,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSMTEST", "not-a-secret", ""),
		// The suite measures behaviour, not pacing.
		WriteRate:  -1,
		ReadRate:   -1,
		ScanRate:   -1,
		MaxBackoff: 50 * time.Millisecond,
		Observer:   seen,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &adapter{Client: c, seen: seen}
}

// wantClass checks that err is the adapter's classified error with the
// AWS code and class given, and returns what else it says.
func wantClass(t *testing.T, err error, code string, class awssm.Class) (requestID string, transient bool) {
	t.Helper()
	var ae *awssm.Error
	if !errors.As(err, &ae) {
		t.Fatalf("want an *awssm.Error %s, got %v", code, err)
	}
	if ae.Code != code || ae.Class != class {
		t.Fatalf("classified as %s (class %d), want %s (class %d): %v", ae.Code, ae.Class, code, class, err)
	}
	return ae.RequestID, ae.Transient()
}

// waitAdapterInSync polls the adapter's Describe until every named Region
// is InSync.
func waitAdapterInSync(t *testing.T, sm *adapter, id string, regions ...string) domain.Secret {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sec, err := sm.Describe(context.Background(), PrimaryRegion, id)
		if err != nil {
			t.Fatal(err)
		}
		ready := true
		for _, r := range regions {
			rep, ok := sec.Replica(r)
			switch {
			case !ok:
				t.Fatalf("no replica in %s: %+v", r, sec.Replicas)
			case rep.Status == domain.StatusFailed:
				t.Fatalf("replication to %s failed: %s", r, rep.StatusMessage)
			case rep.Status != domain.StatusInSync:
				ready = false
			}
		}
		if ready {
			return sec
		}
		if time.Now().After(deadline) {
			t.Fatalf("not InSync after 10s: %+v", sec.Replicas)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adapterScenarios go through replicad's AWS adapter (internal/awssm): what
// the engine sees of each backend, parsed and classified.
func adapterScenarios() []scenario {
	ctx := context.Background()
	return []scenario{
		{"list every page", func(b *conformance) {
			t, c, sm := b.t, b.c, b.sm
			// Regions no other scenario uses: a shared moto lists every
			// scenario's secrets of a Region.
			const home, away = "ca-central-1", "sa-east-1"
			prefix := UniqueName("adapter-list")
			var want []string
			for i := range 7 {
				name := prefix + "/" + string(rune('a'+i))
				Check(c.In(home).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
					Name: aws.String(name), SecretString: aws.String("v"),
					Tags: []types.Tag{{Key: aws.String("n"), Value: aws.String(name)}},
				})).Must(t)
				want = append(want, name)
			}
			replicated := want[0]
			Check(c.In(home).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: aws.String(replicated), AddReplicaRegions: []types.ReplicaRegionType{Region(away)},
			})).Must(t)
			deleted := want[1]
			Check(c.In(home).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(deleted), RecoveryWindowInDays: aws.Int64(7)})).Must(t)

			listAll := func(region string) map[string]awssm.ListedSecret {
				t.Helper()
				got := map[string]awssm.ListedSecret{}
				token, pages := "", 0
				for {
					page, err := sm.ListSecrets(ctx, "", region, token, 3)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					if len(page.Secrets) > 3 {
						t.Fatalf("a page of %d, asked for 3", len(page.Secrets))
					}
					for _, e := range page.Secrets {
						got[e.Name] = e
					}
					if token = page.NextToken; token == "" {
						break
					}
				}
				if region == home && pages < 3 {
					t.Errorf("%d pages for at least 7 secrets in pages of 3", pages)
				}
				return got
			}
			got := listAll(home)
			for _, name := range want {
				e, ok := got[name]
				if !ok {
					t.Errorf("%s not listed", name)
					continue
				}
				WantSecretARN(t, e.ARN, home, name)
				if e.Tags["n"] != name || e.Deleted != (name == deleted) || e.LastChanged.IsZero() {
					t.Errorf("%s listed as %+v", name, e)
				}
			}
			if e := got[replicated]; !b.motoDiffers("moto lists no PrimaryRegion for a replicated primary") && e.PrimaryRegion != home {
				t.Errorf("the replicated primary lists PrimaryRegion %q", e.PrimaryRegion)
			}
			if e, ok := listAll(away)[replicated]; !ok || e.PrimaryRegion != home || e.ARN != InRegion(got[replicated].ARN, away) {
				t.Errorf("the replica in its Region lists as %+v (listed: %v)", e, ok)
			}
			if calls := sm.seen.of("ListSecrets"); len(calls) == 0 || calls[0].RequestID == "" {
				t.Errorf("ListSecrets attempts observed: %+v", calls)
			}
		}},

		{"describe a primary and its replica", func(b *conformance) {
			t, c, sm := b.t, b.c, b.sm
			name := UniqueName("adapter-describe")
			arn := CreateSecret(t, c, PrimaryRegion, name)
			sec, err := sm.Describe(ctx, PrimaryRegion, name)
			if err != nil {
				t.Fatal(err)
			}
			if sec.ARN != arn || sec.Name != name || sec.PrimaryRegion != PrimaryRegion || len(sec.Replicas) != 0 || sec.Deleted {
				t.Errorf("a fresh secret reads as %+v", sec)
			}
			// Failback compares these two between the old and the new primary.
			if sec.LastChanged.IsZero() || len(sec.VersionIDsToStages) != 1 {
				t.Errorf("a fresh secret's LastChanged %v, VersionIdsToStages %v", sec.LastChanged, sec.VersionIDsToStages)
			}
			for _, stages := range sec.VersionIDsToStages {
				if !slices.Contains(stages, "AWSCURRENT") {
					t.Errorf("the only version's stages %v lack AWSCURRENT", stages)
				}
			}
			Replicate(t, c, name, false, RegionWithKey(ReplicaEU, "alias/replicad-eu"))
			sec = waitAdapterInSync(t, sm, name, ReplicaEU)
			rep, _ := sec.Replica(ReplicaEU)
			if !b.motoDiffers("moto ignores KmsKeyId") && rep.KMSKeyID != "alias/replicad-eu" {
				t.Errorf("replica KMS key %q", rep.KMSKeyID)
			}
			// From the replica's Region: the replica, naming its primary.
			replica, err := sm.Describe(ctx, ReplicaEU, name)
			if err != nil {
				t.Fatal(err)
			}
			if replica.ARN != InRegion(arn, ReplicaEU) || replica.PrimaryRegion != PrimaryRegion {
				t.Errorf("the replica reads as ARN %q primary %q", replica.ARN, replica.PrimaryRegion)
			}
			if !b.motoDiffers("moto's replicas keep their own versions") && !maps.EqualFunc(replica.VersionIDsToStages, sec.VersionIDsToStages, slices.Equal) {
				t.Errorf("an InSync replica's versions %v differ from its primary's %v", replica.VersionIDsToStages, sec.VersionIDsToStages)
			}
			calls := sm.seen.of("DescribeSecret")
			if len(calls) == 0 || calls[0].RequestID == "" || calls[0].Region != PrimaryRegion || calls[0].Params.SecretID != name {
				t.Errorf("DescribeSecret attempts observed: %+v", calls)
			}
		}},

		{"replicate and remove", func(b *conformance) {
			t, c, sm := b.t, b.c, b.sm
			name := UniqueName("adapter-replicate")
			CreateSecret(t, c, PrimaryRegion, name)
			reps, err := sm.Replicate(ctx, PrimaryRegion, name, []domain.ReplicaParam{{Region: ReplicaEU}, {Region: ReplicaAP, KMSKeyID: "alias/ap"}}, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 2 || reps[0].Region != ReplicaEU || reps[1].Region != ReplicaAP {
				t.Errorf("ReplicateSecretToRegions answered %+v", reps)
			}
			calls := sm.seen.of("ReplicateSecretToRegions")
			if len(calls) != 1 || !slices.Equal(regionsOf(calls[0].Params.AddReplicaRegions), []string{ReplicaEU, ReplicaAP}) ||
				calls[0].Params.AddReplicaRegions[1].KMSKeyID != "alias/ap" || calls[0].RequestID == "" {
				t.Errorf("ReplicateSecretToRegions attempts observed: %+v", calls)
			}
			waitAdapterInSync(t, sm, name, ReplicaEU, ReplicaAP)
			left, err := sm.RemoveRegions(ctx, PrimaryRegion, name, []string{ReplicaEU})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 1 || left[0].Region != ReplicaAP {
				t.Errorf("RemoveRegionsFromReplication left %+v", left)
			}
		}},

		{"errors are classified", func(b *conformance) {
			t, c, sm := b.t, b.c, b.sm
			_, err := sm.Describe(ctx, PrimaryRegion, UniqueName("adapter-missing"))
			if rid, transient := wantClass(t, err, standin.CodeResourceNotFound, awssm.ClassNotFound); rid == "" || transient {
				t.Errorf("not found: request id %q, transient %v", rid, transient)
			}
			name := UniqueName("adapter-errors")
			CreateSecret(t, c, PrimaryRegion, name)
			_, err = sm.Replicate(ctx, PrimaryRegion, name, []domain.ReplicaParam{{Region: PrimaryRegion}}, false)
			wantClass(t, err, standin.CodeInvalidParameter, awssm.ClassInvalidArgument)
			if b.motoDiffers("moto replicates a secret scheduled for deletion") {
				return
			}
			Check(c.In(PrimaryRegion).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &name, RecoveryWindowInDays: aws.Int64(7)})).Must(t)
			sec, err := sm.Describe(ctx, PrimaryRegion, name)
			if err != nil || !sec.Deleted {
				t.Errorf("a secret scheduled for deletion reads as %+v, %v", sec, err)
			}
			_, err = sm.Replicate(ctx, PrimaryRegion, name, []domain.ReplicaParam{{Region: ReplicaEU}}, false)
			wantClass(t, err, standin.CodeInvalidRequest, awssm.ClassFailedPrecondition)
		}},

		{"promote a replica", func(b *conformance) {
			t, c, sm := b.t, b.c, b.sm
			if !b.b.StopReplication {
				t.Skipf("%s does not implement StopReplicationToReplica", b.b.Name)
			}
			name := UniqueName("adapter-promote")
			arn := CreateSecret(t, c, PrimaryRegion, name)
			Replicate(t, c, name, false, Region(ReplicaEU), Region(ReplicaAP))
			waitAdapterInSync(t, sm, name, ReplicaEU, ReplicaAP)
			promoted, err := sm.StopReplication(ctx, ReplicaEU, name)
			if err != nil {
				t.Fatal(err)
			}
			if promoted != InRegion(arn, ReplicaEU) {
				t.Errorf("StopReplicationToReplica answered ARN %q", promoted)
			}
			standalone, err := sm.Describe(ctx, ReplicaEU, name)
			if err != nil || standalone.PrimaryRegion != ReplicaEU || len(standalone.Replicas) != 0 {
				t.Errorf("the promoted secret reads as %+v, %v", standalone, err)
			}
			primary, err := sm.Describe(ctx, PrimaryRegion, name)
			if err != nil {
				t.Fatal(err)
			}
			if _, still := primary.Replica(ReplicaEU); still || len(primary.Replicas) != 1 {
				t.Errorf("the old primary still lists the promoted Region: %+v", primary.Replicas)
			}
			// Promoting what is not a replica is refused as a bad parameter,
			// like a primary-only call in a replica's Region (the message is
			// the stand-in's reading: AWS documents none).
			_, err = sm.StopReplication(ctx, PrimaryRegion, name)
			wantClass(t, err, standin.CodeInvalidParameter, awssm.ClassInvalidArgument)
		}},
	}
}

func regionsOf(rs []domain.ReplicaParam) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Region
	}
	return out
}
