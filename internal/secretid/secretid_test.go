package secretid_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/secretid"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                   string
		wantName, wantRegion string
		wantAccount, wantKey string
		wantErr              bool
	}{
		{in: "prod/db/primary", wantName: "prod/db/primary", wantKey: "prod/db/primary"},
		{in: "a", wantName: "a", wantKey: "a"},
		{in: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-a1b2c3", wantName: "prod/db", wantRegion: "us-east-1", wantAccount: "123456789012", wantKey: "prod/db"},
		{in: "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-y-Zz9Zz9", wantName: "x-y", wantRegion: "us-gov-west-1", wantAccount: "123456789012", wantKey: "x-y"},
		{in: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:abc", wantName: "abc", wantRegion: "cn-north-1", wantAccount: "123456789012", wantKey: "abc"},
		{in: "", wantErr: true},
		{in: strings.Repeat("a", 513), wantErr: true},
		{in: "has space", wantErr: true},
		{in: "arn:aws:kms:us-east-1:123456789012:key/abc", wantErr: true},
		{in: "arn:aws:secretsmanager:us-east-1:12345:secret:x-abcdef", wantErr: true},
		{in: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("a", 2000), wantErr: true},
	}
	for _, tt := range tests {
		got, err := secretid.Parse(tt.in)
		if tt.wantErr {
			if !errors.Is(err, secretid.ErrInvalid) {
				t.Errorf("Parse(%.40q) error = %v, want ErrInvalid", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got.Name != tt.wantName || got.Region != tt.wantRegion || got.Account != tt.wantAccount || got.Key() != tt.wantKey {
			t.Errorf("Parse(%q) = %+v (key %q), want name %q region %q account %q key %q", tt.in, got, got.Key(), tt.wantName, tt.wantRegion, tt.wantAccount, tt.wantKey)
		}
	}
}
