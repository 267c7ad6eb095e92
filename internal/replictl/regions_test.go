package replictl

import (
	"maps"
	"strings"
	"testing"
)

func TestParseReplica(t *testing.T) {
	tests := []struct {
		in             string
		region, kmsKey string
		wantErr        bool
	}{
		{in: "eu-west-3", region: "eu-west-3"},
		{in: "us-east-1:alias/replica-key", region: "us-east-1", kmsKey: "alias/replica-key"},
		{in: "us-east-1:1234abcd-12ab-34cd-56ef-1234567890ab", region: "us-east-1", kmsKey: "1234abcd-12ab-34cd-56ef-1234567890ab"},
		// A key ARN keeps its own colons: only the first one separates.
		{in: "eu-west-1:arn:aws:kms:eu-west-1:111122223333:key/abcd", region: "eu-west-1", kmsKey: "arn:aws:kms:eu-west-1:111122223333:key/abcd"},
		{in: "", wantErr: true},
		{in: ":alias/k", wantErr: true},
		{in: "eu-west-1:", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseReplica(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseReplica(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got.GetRegion() != tt.region || got.GetKmsKeyId() != tt.kmsKey) {
			t.Errorf("parseReplica(%q) = %s/%s, want %s/%s", tt.in, got.GetRegion(), got.GetKmsKeyId(), tt.region, tt.kmsKey)
		}
		if err == nil && formatReplica(got) != tt.in {
			t.Errorf("formatReplica(parseReplica(%q)) = %q", tt.in, formatReplica(got))
		}
	}
}

func TestLabelFlagNeverEchoesValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"pairs", []string{"ticket=CANARY-1", "team=x=y"}, map[string]string{"ticket": "CANARY-1", "team": "x=y"}},
		{"repeated key", []string{"ticket=CANARY-1", "ticket=CANARY-2"}, nil},
		{"no equals sign", []string{"CANARY-1"}, nil},
		{"empty key", []string{"=CANARY-1"}, nil},
	}
	for _, tt := range tests {
		var f labelFlag
		for _, a := range tt.args {
			if err := f.Set(a); err != nil {
				t.Fatalf("%s: Set refused %q: the flag package would quote it", tt.name, a)
			}
		}
		got, err := f.labels()
		if tt.want == nil {
			if err == nil {
				t.Errorf("%s: accepted", tt.name)
			} else if strings.Contains(err.Error(), "CANARY") {
				t.Errorf("%s: error %q shows a label value", tt.name, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("%s: labels() = %v, %v; want %v", tt.name, got, err, tt.want)
		}
		if s := f.String(); strings.Contains(s, "CANARY") {
			t.Errorf("%s: String() = %q shows a value", tt.name, s)
		}
	}
}
