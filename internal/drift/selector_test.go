package drift

import (
	"testing"

	"github.com/replicad/replicad/internal/domain"
)

func TestSelectorMatches(t *testing.T) {
	sel, err := CompileSelector(domain.PolicySelector{
		Accounts: []string{"111111111111"}, NameGlobs: []string{"prod/*/db", "shared/**"},
		Tags: map[string]string{"team": "x"}, ExcludeNameGlobs: []string{"shared/tmp/**"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sec := func(acct, name string, tags map[string]string) domain.InventorySecret {
		return domain.InventorySecret{Account: acct, Name: name, Tags: tags}
	}
	x := map[string]string{"team": "x"}
	tests := []struct {
		sec  domain.InventorySecret
		want bool
	}{
		{sec("111111111111", "prod/a/db", x), true},
		{sec("111111111111", "prod/a/b/db", x), false}, // "*" stays within a segment
		{sec("111111111111", "shared/a/b", x), true},
		{sec("111111111111", "shared/tmp/a", x), false}, // excluded
		{sec("222222222222", "prod/a/db", x), false},    // other account
		{sec("111111111111", "prod/a/db", map[string]string{"team": "y"}), false},
		{sec("111111111111", "prod/a/db", nil), false},
	}
	for _, tt := range tests {
		if got := sel.Matches(tt.sec); got != tt.want {
			t.Errorf("Matches(%s %s %v) = %t, want %t", tt.sec.Account, tt.sec.Name, tt.sec.Tags, got, tt.want)
		}
	}
	if _, err := CompileGlob("a/***"); err == nil {
		t.Error(`"***" compiled`)
	}
}

func TestPlanOrdersRemoveBeforeReplicate(t *testing.T) {
	p := domain.Policy{Replicas: []domain.ReplicaParam{{Region: "eu-west-1", KMSKeyID: "alias/k"}, {Region: "ap-south-1"}},
		RetryFailed: true, ForceOverwrite: true, Prune: true, RecreateOnKMSChange: true}
	ds := []Drift{{Kind: KindFailedReplica, Region: "ap-south-1"}, {Kind: KindKMSKeyDiffers, Region: "eu-west-1"},
		{Kind: KindExtraRegion, Region: "sa-east-1"}, {Kind: KindUnexpectedPrimary, Region: "us-west-2"}}
	ops, unfixed := Plan(p, ds)
	if !unfixed || len(ops) != 2 || ops[0].Kind != domain.KindRemove || ops[1].Kind != domain.KindReplicate || !ops[1].Force {
		t.Fatalf("Plan = %+v, unfixed %t", ops, unfixed)
	}
	if len(ops[0].Replicas) != 2 || len(ops[1].Replicas) != 2 || ops[1].Replicas[1].KMSKeyID != "alias/k" {
		t.Errorf("Plan = %+v", ops)
	}
	if ops, unfixed := Plan(domain.Policy{}, ds); len(ops) != 0 || !unfixed {
		t.Errorf("behaviours off: %+v", ops)
	}
	a := domain.Policy{Replicas: []domain.ReplicaParam{{Region: "eu-west-1", KMSKeyID: ""}}}
	b := domain.Policy{Replicas: []domain.ReplicaParam{{Region: "eu-west-1", KMSKeyID: "alias/aws/secretsmanager"}}}
	if !SameDesires(a, b) {
		t.Error("the managed key by alias and by nothing differ")
	}
	b.Prune = true
	if SameDesires(a, b) {
		t.Error("prune and no prune are the same desires")
	}
}
