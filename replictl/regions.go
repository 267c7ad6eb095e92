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

// labelFlag collects repeated --label KEY=VALUE pairs.
type labelFlag map[string]string

func (f labelFlag) String() string {
	parts := make([]string, 0, len(f))
	for k := range f {
		// Label values are sensitive: never echo them, even in usage text.
		parts = append(parts, k+"=…")
	}
	return strings.Join(parts, ",")
}

func (f labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE")
	}
	if _, dup := f[k]; dup {
		return fmt.Errorf("label %q given twice", k)
	}
	f[k] = val
	return nil
}
