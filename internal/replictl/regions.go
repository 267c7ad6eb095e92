package replictl

import (
	"fmt"
	"strings"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// replicaFlag collects repeated --region values in the AWS CLI's spirit:
// "eu-west-3" or "us-east-1:alias/replica-key". Region codes never contain
// a colon, so the first colon separates the Region from a KMS key that may
// itself be an ARN full of colons.
type replicaFlag struct {
	regions []*replicadv1.ReplicaRegion
}

func (f *replicaFlag) String() string {
	parts := make([]string, 0, len(f.regions))
	for _, r := range f.regions {
		parts = append(parts, formatReplica(r))
	}
	return strings.Join(parts, ",")
}

func (f *replicaFlag) Set(v string) error {
	r, err := parseReplica(v)
	if err != nil {
		return err
	}
	f.regions = append(f.regions, r)
	return nil
}

func parseReplica(v string) (*replicadv1.ReplicaRegion, error) {
	region, key, hasKey := strings.Cut(v, ":")
	if region == "" {
		return nil, fmt.Errorf("%q: want REGION or REGION:KMS_KEY", v)
	}
	if hasKey && key == "" {
		return nil, fmt.Errorf("%q: empty KMS key after the colon", v)
	}
	return &replicadv1.ReplicaRegion{Region: region, KmsKeyId: key}, nil
}

func formatReplica(r *replicadv1.ReplicaRegion) string {
	if r.GetKmsKeyId() == "" {
		return r.GetRegion()
	}
	return r.GetRegion() + ":" + r.GetKmsKeyId()
}

// stringsFlag collects a repeated flag's values.
type stringsFlag []string

func (f *stringsFlag) String() string     { return strings.Join(*f, ",") }
func (f *stringsFlag) Set(v string) error { *f = append(*f, v); return nil }

// labelFlag collects repeated --label KEY=VALUE pairs. Label values are
// sensitive, and the flag package quotes a value Set refuses in its error
// message: Set therefore accepts anything, and labels() checks the pairs
// afterwards, naming keys only.
type labelFlag []string

func (f *labelFlag) String() string     { return "" }
func (f *labelFlag) Set(v string) error { *f = append(*f, v); return nil }

func (f labelFlag) labels() (map[string]string, error) {
	if len(f) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(f))
	for i, v := range f {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--label #%d: want KEY=VALUE", i+1)
		}
		if _, dup := m[k]; dup {
			return nil, usageErrorf("--label %q given twice", k)
		}
		m[k] = val
	}
	return m, nil
}
