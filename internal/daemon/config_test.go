package daemon_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
