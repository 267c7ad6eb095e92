package replictl

import "testing"

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
	f := labelFlag{}
	if err := f.Set("ticket=CANARY-label-value"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("ticket=again"); err == nil {
		t.Error("a repeated label key was accepted")
	}
	if err := f.Set("novalue"); err == nil {
		t.Error("a label without = was accepted")
	}
	if s := f.String(); s != "ticket=…" {
		t.Errorf("String() = %q, want the key only", s)
	}
}
