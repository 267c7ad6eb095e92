package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/domain"
)

func TestPlanFailover(t *testing.T) {
	t.Parallel()
	inSync := func(region, key string) domain.Replica {
		return domain.Replica{Region: region, KMSKeyID: key, Status: domain.StatusInSync}
	}
	sec := func(reps ...domain.Replica) domain.InventorySecret {
		return domain.InventorySecret{Region: "us-east-1", Name: "app/db", Replicas: reps}
	}
	stop := func(r string) domain.Step {
		return domain.Step{API: domain.APIStopReplication, Region: r, State: domain.StepPending}
	}
	tests := []struct {
		name  string
		sec   domain.InventorySecret
		force bool
		steps []domain.Step
		skip  string
	}{
		{"target and one other, keys kept", sec(inSync("us-west-2", ""), inSync("eu-west-1", "alias/eu")), false,
			[]domain.Step{stop("us-west-2"), stop("eu-west-1"), {
				API: domain.APIReplicate, Region: "us-west-2", State: domain.StepPending,
				Targets: []domain.ReplicaParam{{Region: "eu-west-1", KMSKeyID: "alias/eu"}},
			}}, ""},
		{"target only: nothing to re-establish", sec(inSync("us-west-2", "")), false, []domain.Step{stop("us-west-2")}, ""},
		{"no replica in target", sec(inSync("eu-west-1", "")), false, nil, SkipNotReplicatedToTarget},
		{"target InProgress", sec(domain.Replica{Region: "us-west-2", Status: domain.StatusInProgress}), false, nil, SkipTargetNotInSync},
		{"target Failed, forced", sec(domain.Replica{Region: "us-west-2", Status: domain.StatusFailed}), true, []domain.Step{stop("us-west-2")}, ""},
		{"deleted", domain.InventorySecret{Region: "us-east-1", Deleted: true, Replicas: []domain.Replica{inSync("us-west-2", "")}}, true, nil, SkipDeleted},
		{"primary elsewhere", domain.InventorySecret{Region: "eu-west-1", Replicas: []domain.Replica{inSync("us-west-2", "")}}, false, nil, SkipWrongPrimary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			steps, skip := planFailover(tc.sec, "us-east-1", "us-west-2", tc.force)
			if skip != tc.skip || !reflect.DeepEqual(steps, tc.steps) {
				t.Errorf("planFailover = %+v, %q; want %+v, %q", steps, skip, tc.steps, tc.skip)
			}
		})
	}
}

func TestPlanFailback(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cur := domain.Secret{
		PrimaryRegion: "us-west-2", LastChanged: t0.Add(time.Hour),
		VersionIDsToStages: map[string][]string{"v1": {"AWSPREVIOUS"}, "v2": {"AWSCURRENT"}},
		Replicas:           []domain.Replica{{Region: "eu-west-1", KMSKeyID: "alias/eu", Status: domain.StatusInSync}},
	}
	same := domain.Secret{PrimaryRegion: "us-east-1", LastChanged: t0, VersionIDsToStages: map[string][]string{"v1": {"AWSCURRENT"}}}
	newVersion := domain.Secret{PrimaryRegion: "us-east-1", LastChanged: t0, VersionIDsToStages: map[string][]string{"v9": {"AWSCURRENT"}}}
	later := domain.Secret{PrimaryRegion: "us-east-1", LastChanged: t0.Add(2 * time.Hour), VersionIDsToStages: map[string][]string{"v1": {"AWSCURRENT"}}}
	over := domain.Step{API: domain.APIReplicate, Region: "us-west-2", State: domain.StepPending,
		Targets: []domain.ReplicaParam{{Region: "us-east-1", KMSKeyID: "alias/east"}}}
	tests := []struct {
		name  string
		old   domain.Secret
		mode  FailbackMode
		force bool
		steps []domain.Step
		skip  string
	}{
		{"unchanged, replicate over", same, FailbackReplicateOver, false, []domain.Step{over}, ""},
		{"a version the new primary lacks", newVersion, FailbackReplicateOver, false, nil, SkipDiverged},
		{"changed after the new primary", later, FailbackReplicateOver, false, nil, SkipDiverged},
		{"diverged, forced", later, FailbackReplicateOver, true, []domain.Step{over}, ""},
		{"move the primary back", same, FailbackMovePrimaryBack, false, []domain.Step{
			over,
			{API: domain.APIStopReplication, Region: "us-east-1", State: domain.StepPending},
			{API: domain.APIStopReplication, Region: "eu-west-1", State: domain.StepPending},
			{API: domain.APIReplicate, Region: "us-east-1", State: domain.StepPending, Targets: []domain.ReplicaParam{
				{Region: "us-west-2", KMSKeyID: "alias/west"}, {Region: "eu-west-1", KMSKeyID: "alias/eu"},
			}},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			steps, skip := planFailback(tc.old, cur, "us-east-1", "alias/east", "alias/west", tc.mode, tc.force)
			if skip != tc.skip || !reflect.DeepEqual(steps, tc.steps) {
				t.Errorf("planFailback = %+v, %q; want %+v, %q", steps, skip, tc.steps, tc.skip)
			}
		})
	}
}
