package drift

import (
	"slices"
	"testing"

	"github.com/replicad/replicad/internal/domain"
)

func TestClassify(t *testing.T) {
	want := Desired{
		Replicas:       map[string]string{"eu-west-1": "alias/eu", "ap-south-1": ""},
		PrimaryRegions: []string{"us-east-1"},
	}
	secret := func(replicas ...domain.Replica) domain.InventorySecret {
		return domain.InventorySecret{Region: "us-east-1", Name: "s", Replicas: replicas}
	}
	inSyncEU := domain.Replica{Region: "eu-west-1", KMSKeyID: "alias/eu", Status: domain.StatusInSync}
	inSyncAP := domain.Replica{Region: "ap-south-1", Status: domain.StatusInSync}
	tests := []struct {
		name string
		got  domain.InventorySecret
		want []Drift
	}{
		{"compliant", secret(inSyncEU, inSyncAP), nil},
		{"in progress is not drift", secret(
			domain.Replica{Region: "eu-west-1", KMSKeyID: "alias/eu", Status: domain.StatusInProgress},
			domain.Replica{Region: "ap-south-1", Status: domain.StatusInProgress}), nil},
		{"managed key reported by alias", secret(inSyncEU,
			domain.Replica{Region: "ap-south-1", KMSKeyID: "alias/aws/secretsmanager", Status: domain.StatusInSync}), nil},
		{"missing regions, sorted", secret(), []Drift{
			{Kind: KindMissingRegion, Region: "ap-south-1"}, {Kind: KindMissingRegion, Region: "eu-west-1"}}},
		{"failed replica keeps AWS's message", secret(inSyncAP,
			domain.Replica{Region: "eu-west-1", KMSKeyID: "alias/eu", Status: domain.StatusFailed, StatusMessage: "key disabled"}),
			[]Drift{{Kind: KindFailedReplica, Region: "eu-west-1", Message: "key disabled"}}},
		{"kms key differs", secret(inSyncAP,
			domain.Replica{Region: "eu-west-1", KMSKeyID: "alias/other", Status: domain.StatusInSync}),
			[]Drift{{Kind: KindKMSKeyDiffers, Region: "eu-west-1"}}},
		{"extra region", secret(inSyncEU, inSyncAP, domain.Replica{Region: "sa-east-1", Status: domain.StatusInSync}),
			[]Drift{{Kind: KindExtraRegion, Region: "sa-east-1"}}},
		{"unexpected primary, desired Region that is the primary is not missing", domain.InventorySecret{
			Region: "eu-west-1", Replicas: []domain.Replica{inSyncAP}},
			[]Drift{{Kind: KindUnexpectedPrimary, Region: "eu-west-1"}}},
		{"scheduled for deletion hides the rest", domain.InventorySecret{Region: "us-east-1", Deleted: true},
			[]Drift{{Kind: KindScheduledForDeletion, Region: "us-east-1"}}},
		{"several kinds in kind order", secret(
			domain.Replica{Region: "eu-west-1", KMSKeyID: "alias/x", Status: domain.StatusInSync},
			domain.Replica{Region: "af-south-1", Status: domain.StatusFailed}),
			[]Drift{{Kind: KindMissingRegion, Region: "ap-south-1"}, {Kind: KindKMSKeyDiffers, Region: "eu-west-1"},
				{Kind: KindExtraRegion, Region: "af-south-1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(want, tt.got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFixFor(t *testing.T) {
	all := Behaviour{RetryFailed: true, Prune: true, RecreateOnKMS: true}
	tests := []struct {
		b    Behaviour
		kind Kind
		want Fix
	}{
		{Behaviour{}, KindMissingRegion, FixReplicate},
		{Behaviour{}, KindFailedReplica, FixNone},
		{all, KindFailedReplica, FixReplicate},
		{Behaviour{}, KindExtraRegion, FixNone},
		{all, KindExtraRegion, FixRemove},
		{Behaviour{}, KindKMSKeyDiffers, FixNone},
		{all, KindKMSKeyDiffers, FixRecreate},
		{all, KindUnexpectedPrimary, FixNone},
		{all, KindScheduledForDeletion, FixNone},
	}
	for _, tt := range tests {
		if got := FixFor(tt.b, Drift{Kind: tt.kind}); got != tt.want {
			t.Errorf("FixFor(%+v, %s) = %q, want %q", tt.b, tt.kind, got, tt.want)
		}
	}
}

// SameKey decides key equality where references differ as written: an
// alias and the key it resolves to are the same key.
func TestClassifySameKey(t *testing.T) {
	resolved := map[string]string{"eu-west-1/alias/eu": "key-1"}
	want := Desired{
		Replicas: map[string]string{"eu-west-1": "alias/eu"},
		SameKey: func(region, w, g string) bool {
			if r, ok := resolved[region+"/"+w]; ok {
				w = r
			}
			return w == g
		},
	}
	sec := func(key string) domain.InventorySecret {
		return domain.InventorySecret{Region: "us-east-1", Replicas: []domain.Replica{{Region: "eu-west-1", KMSKeyID: key, Status: domain.StatusInSync}}}
	}
	if got := Classify(want, sec("key-1")); len(got) != 0 {
		t.Errorf("the alias's key: %v", got)
	}
	if got := Classify(want, sec("key-2")); len(got) != 1 || got[0].Kind != KindKMSKeyDiffers {
		t.Errorf("another key: %v", got)
	}
	// The managed key's names stay equal without asking.
	want.Replicas["eu-west-1"] = ""
	want.SameKey = func(string, string, string) bool { t.Error("asked about the managed key"); return false }
	if got := Classify(want, sec("alias/aws/secretsmanager")); len(got) != 0 {
		t.Errorf("managed key: %v", got)
	}
}
