package daemon_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/daemon"
)

func TestParseArgsLists(t *testing.T) {
	dir := t.TempDir()
	n := 0
	file := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("config-%d.yaml", n))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unset", nil, nil},
		{"comma-separated flag", []string{"--allowed-regions", "us-east-1, eu-west-1"}, []string{"us-east-1", "eu-west-1"}},
		{"repeated flag", []string{"--allowed-regions", "us-east-1", "--allowed-regions", "eu-west-1"}, []string{"us-east-1", "eu-west-1"}},
		{"YAML list", []string{"--config", file("allowed-regions: [us-east-1, eu-west-1, ap-southeast-5]\n")}, []string{"us-east-1", "eu-west-1", "ap-southeast-5"}},
		{"YAML string", []string{"--config", file("allowed-regions: us-east-1,eu-west-1\n")}, []string{"us-east-1", "eu-west-1"}},
		{"flag wins over file", []string{"--allowed-regions", "eu-west-3", "--config", file("allowed-regions: [us-east-1]\n")}, []string{"eu-west-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := daemon.ParseArgs(tt.args, io.Discard, "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.AllowedRegions, tt.want) {
				t.Errorf("AllowedRegions = %q, want %q", cfg.AllowedRegions, tt.want)
			}
		})
	}
}

func TestParseArgsRefusesUnknownSettings(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("wokers: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.ParseArgs([]string{"--config", p}, io.Discard, ""); err == nil {
		t.Error("a misspelt setting in the config file was accepted")
	}
}

func TestLoadAccounts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `accounts:
  - role_arn: arn:aws:iam::111111111111:role/replicad
    external_id: ext-1
    regions: [us-east-1, eu-west-1, us-east-1]
  - role_arn: arn:aws:iam::222222222222:role/replicad
    regions: [ap-southeast-2]
`)
	cfg, err := daemon.ParseArgs([]string{"--accounts-file", good, "--allowed-regions", "us-east-1,eu-west-1,ap-southeast-2"}, io.Discard, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.LoadAccounts(); err != nil {
		t.Fatal(err)
	}
	a := cfg.AWS.Accounts
	if len(a) != 2 || a[0].ID != "111111111111" || a[0].ExternalID != "ext-1" || !slices.Equal(a[0].Regions, []string{"eu-west-1", "us-east-1"}) ||
		a[1].ID != "222222222222" || !slices.Equal(a[1].Regions, []string{"ap-southeast-2"}) {
		t.Errorf("accounts %+v", a)
	}
	for name, body := range map[string]string{
		"not a role":     "accounts:\n  - role_arn: arn:aws:iam::111111111111:user/x\n    regions: [us-east-1]\n",
		"twice":          "accounts:\n  - role_arn: arn:aws:iam::111111111111:role/a\n    regions: [us-east-1]\n  - role_arn: arn:aws:iam::111111111111:role/b\n    regions: [us-east-1]\n",
		"no Region":      "accounts:\n  - role_arn: arn:aws:iam::111111111111:role/a\n",
		"Region refused": "accounts:\n  - role_arn: arn:aws:iam::111111111111:role/a\n    regions: [sa-east-1]\n",
		"unknown field":  "accounts:\n  - role_arn: arn:aws:iam::111111111111:role/a\n    regons: [us-east-1]\n",
		"empty":          "accounts: []\n",
	} {
		cfg, err := daemon.ParseArgs([]string{"--accounts-file", write(name+".yaml", body), "--allowed-regions", "us-east-1"}, io.Discard, "")
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.LoadAccounts()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "111111111111") {
			t.Errorf("%s: the error names the account: %v", name, err)
		}
	}
}
