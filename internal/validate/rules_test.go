package validate_test

import (
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/validate"
)

func TestRegionCodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		region    string
		ok        bool
		partition string
	}{
		{"us-east-1", true, "aws"}, {"eu-west-3", true, "aws"}, {"ap-southeast-5", true, "aws"},
		{"us-gov-west-1", true, "aws-us-gov"}, {"cn-north-1", true, "aws-cn"}, {"us-isob-east-1", true, "aws-iso-b"},
		{"us-iso-east-1", true, "aws-iso"}, {"mx-central-1", true, "aws"},
		{"", false, ""}, {"us-east", false, ""}, {"US-EAST-1", false, ""}, {"us_east_1", false, ""},
		{"us-east-100", false, ""}, {"useast-1", false, ""}, {"us-east-1\x00", false, ""},
	} {
		if got := validate.WellFormedRegion(tt.region); got != tt.ok {
			t.Errorf("WellFormedRegion(%q) = %v", tt.region, got)
		}
		if tt.ok {
			if got := validate.Partition(tt.region); got != tt.partition {
				t.Errorf("Partition(%q) = %s, want %s", tt.region, got, tt.partition)
			}
		}
	}
}

// reasons runs a Replicate through the rules and returns field → reason.
func reasons(t *testing.T, r *validate.Rules, req *replicadv1.ReplicateRequest) map[string]string {
	t.Helper()
	_, err := r.Replicate(req)
	out := map[string]string{}
	var ve *validate.Error
	if errors.As(err, &ve) {
		for _, v := range ve.Violations {
			out[v.Field] = v.Reason
		}
	} else if err != nil {
		t.Fatalf("not a validation error: %v", err)
	}
	return out
}

func TestKMSKeys(t *testing.T) {
	t.Parallel()
	rules, err := validate.NewRules(nil, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	const field = "regions[0].kms_key_id"
	for _, tt := range []struct {
		name, region, key, reason string
	}{
		{"none: aws/secretsmanager", "eu-west-1", "", ""},
		{"key id", "eu-west-1", "1234abcd-12ab-34cd-56ef-1234567890ab", ""},
		{"multi-Region key id", "eu-west-1", "mrk-1234abcd12ab34cd56ef1234567890ab", ""},
		{"alias", "eu-west-1", "alias/replica-eu", ""},
		{"key ARN in the Region", "eu-west-1", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", ""},
		{"alias ARN in the Region", "eu-west-1", "arn:aws:kms:eu-west-1:123456789012:alias/replica", ""},
		{"GovCloud replica of a commercial secret", "us-gov-west-1", "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/k", "CROSS_PARTITION"},
		{"key ARN in another Region", "eu-west-1", "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "KMS_KEY_REGION"},
		{"key ARN of another partition", "eu-west-1", "arn:aws-cn:kms:eu-west-1:123456789012:alias/k", "CROSS_PARTITION"},
		{"not a key", "eu-west-1", "my key", "INVALID_KMS_KEY"},
		{"secret ARN", "eu-west-1", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf", "INVALID_KMS_KEY"},
		{"alias without a name", "eu-west-1", "alias/", "INVALID_KMS_KEY"},
		{"too long", "eu-west-1", "alias/" + string(make([]byte, 2100)), "TOO_LONG"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := reasons(t, rules, &replicadv1.ReplicateRequest{
				SecretId: "prod/db", Regions: []*replicadv1.ReplicaRegion{{Region: tt.region, KmsKeyId: tt.key}},
			})
			if tt.region == "us-gov-west-1" {
				// The secret's primary is us-east-1: a GovCloud replica is
				// refused before its key is looked at.
				if got["regions[0].region"] != tt.reason {
					t.Errorf("violations %v, want regions[0].region=%s", got, tt.reason)
				}
				return
			}
			if got[field] != tt.reason {
				t.Errorf("violations %v, want %s=%q", got, field, tt.reason)
			}
		})
	}
}

func TestNewRulesRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	if _, err := validate.NewRules([]string{"us-east-1", "mars"}, ""); err == nil {
		t.Error("an allowed Region that is not a Region code was accepted")
	}
	if _, err := validate.NewRules([]string{"us-east-1"}, "eu-west-1"); err == nil {
		t.Error("a default Region outside the allowed ones was accepted")
	}
	r, err := validate.NewRules([]string{"us-east-1", "eu-west-1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Without a default Region, a bare name cannot be placed.
	if got := reasons(t, r, &replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}}); got["secret_id"] != "ARN_REQUIRED" {
		t.Errorf("violations %v, want secret_id=ARN_REQUIRED", got)
	}
}

func TestAuditFilter(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tt := range []struct {
		name   string
		req    *replicadv1.ListAuditEventsRequest
		field  string // the violation expected, "" for none
		checks func(t *testing.T, f domain.AuditFilter)
	}{
		{"empty", &replicadv1.ListAuditEventsRequest{}, "", nil},
		{"outcome by name", &replicadv1.ListAuditEventsRequest{Outcome: "permission_denied"}, "", func(t *testing.T, f domain.AuditFilter) {
			if f.Code == nil || *f.Code != 7 {
				t.Errorf("code %v", f.Code)
			}
		}},
		{"outcome by number", &replicadv1.ListAuditEventsRequest{Outcome: "14"}, "", func(t *testing.T, f domain.AuditFilter) {
			if f.Code == nil || *f.Code != 14 {
				t.Errorf("code %v", f.Code)
			}
		}},
		{"outcome unknown", &replicadv1.ListAuditEventsRequest{Outcome: "SORT_OF"}, "outcome", nil},
		{"bare method", &replicadv1.ListAuditEventsRequest{Method: "Replicate"}, "", func(t *testing.T, f domain.AuditFilter) {
			if len(f.Methods) != 3 || f.Methods[1] != "/replicad.v1.ReplicationService/Replicate" {
				t.Errorf("methods %v", f.Methods)
			}
		}},
		{"kind", &replicadv1.ListAuditEventsRequest{Kind: replicadv1.AuditEventKind_AUDIT_EVENT_KIND_AWS_CALL}, "", func(t *testing.T, f domain.AuditFilter) {
			if f.Kind != "aws_call" {
				t.Errorf("kind %q", f.Kind)
			}
		}},
		{"unknown kind", &replicadv1.ListAuditEventsRequest{Kind: 9}, "kind", nil},
		{"end before start", &replicadv1.ListAuditEventsRequest{StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(-time.Hour))}, "end_time", nil},
		{"bad secret", &replicadv1.ListAuditEventsRequest{SecretId: "bad name!"}, "secret_id", nil},
		{"bad operation id", &replicadv1.ListAuditEventsRequest{OperationId: "op-1"}, "operation_id", nil},
		{"negative page size", &replicadv1.ListAuditEventsRequest{PageSize: -1}, "page_size", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := validate.AuditFilter(tt.req)
			var ve *validate.Error
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (!errors.As(err, &ve) || ve.Violations[0].Field != tt.field):
				t.Fatalf("got %v, want a violation of %s", err, tt.field)
			}
			if tt.checks != nil {
				tt.checks(t, f)
			}
		})
	}
}

// However many bad strings a request holds, the answer names a bounded
// number: its size, and the cost of auditing it, do not grow with the
// request.
func TestStringsViolationsAreBounded(t *testing.T) {
	t.Parallel()
	labels := map[string]string{}
	for i := range 10000 {
		labels[fmt.Sprintf("k%d", i)] = "v\x00"
	}
	err := validate.Strings(&replicadv1.ReplicateRequest{SecretId: "a\x00", Labels: labels})
	var verr *validate.Error
	if !errors.As(err, &verr) || len(verr.Violations) > 25 || len(err.Error()) > 4096 {
		t.Fatalf("%d violations, %d bytes of message", len(verr.Violations), len(err.Error()))
	}
}

// IsUUID accepts exactly the canonical form (what its regular expression
// did before it became a loop).
func TestIsUUIDIsTheCanonicalForm(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	for _, s := range []string{
		"0190f6d2-4a3b-7c1d-8e2f-0123456789ab", "0190F6D2-4A3B-7C1D-8E2F-0123456789AB", "",
		"0190f6d2-4a3b-7c1d-8e2f-0123456789a", "0190f6d2-4a3b-7c1d-8e2f-0123456789abc", "0190f6d2x4a3b-7c1d-8e2f-0123456789ab",
		"0190f6d2-4a3b-7c1d-8e2f-0123456789ag", "{0190f6d2-4a3b-7c1d-8e2f-0123456789a}", "0190f6d24a3b7c1d8e2f0123456789ab",
		"0190f6d2-4a3b-7c1d-8e2f-0123456789a\n", "urn:uuid:0190f6d2-4a3b-7c1d-8e2f-01",
	} {
		if got, want := validate.IsUUID(s), re.MatchString(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}
