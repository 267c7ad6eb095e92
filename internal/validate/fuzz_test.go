package validate_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/validate"
)

// FuzzValidate feeds arbitrary wire bytes, decoded as each request type, to
// the validators: they must never panic, and what they accept must satisfy
// the rules the engine relies on.
func FuzzValidate(f *testing.F) {
	seeds := []proto.Message{
		&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1", KmsKeyId: "alias/x"}}},
		&replicadv1.ReplicateRequest{SecretId: "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-abcdef", Regions: []*replicadv1.ReplicaRegion{{Region: "us-west-2"}}, RequestId: "6f1c2b9e-3d4a-4c5b-8e7f-9a0b1c2d3e4f"},
		&replicadv1.RemoveRequest{SecretId: "a", Regions: []string{"eu-west-3"}},
		&replicadv1.PromoteRequest{SecretId: "a", Region: "eu-west-3", Labels: map[string]string{"k": "v"}},
	}
	for _, s := range seeds {
		b, _ := proto.Marshal(s)
		f.Add(b)
	}
	rules, err := validate.NewRules(nil, "us-east-1")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rep replicadv1.ReplicateRequest
		if proto.Unmarshal(b, &rep) == nil {
			if target, err := rules.Replicate(&rep); err == nil {
				if len(rep.GetRegions()) == 0 || target.PrimaryRegion == "" {
					t.Fatalf("accepted a Replicate without Regions or primary: %v", &rep)
				}
				seen := map[string]bool{}
				for _, r := range rep.GetRegions() {
					if seen[r.GetRegion()] || r.GetRegion() == target.PrimaryRegion || !validate.WellFormedRegion(r.GetRegion()) {
						t.Fatalf("accepted a bad Region list: %v", &rep)
					}
					seen[r.GetRegion()] = true
				}
			}
		}
		var rem replicadv1.RemoveRequest
		if proto.Unmarshal(b, &rem) == nil {
			_, _ = rules.Remove(&rem)
		}
		var pro replicadv1.PromoteRequest
		if proto.Unmarshal(b, &pro) == nil {
			_, _ = rules.Promote(&pro)
		}
		var st replicadv1.StatusRequest
		if proto.Unmarshal(b, &st) == nil {
			_, _ = rules.Status(&st)
		}
		var list replicadv1.ListOperationsRequest
		if proto.Unmarshal(b, &list) == nil {
			_, _ = rules.ListOperations(&list)
		}
	})
}
