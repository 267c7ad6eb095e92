package main

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Flags win over REPLICAD_* variables, which win over the YAML file.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	dataKey := writeFile(t, dir, "data.key", key)
	fpKey := writeFile(t, dir, "fp.key", key)
	cfgFile := writeFile(t, dir, "replicad.yaml", strings.Join([]string{
		"grpc-addr: 127.0.0.1:7001",
		"http-addr: 127.0.0.1:7002",
		"workers: 7",
		"default-region: eu-west-1",
		"aws-write-rate: 11",
		"data-key-file: " + dataKey,
		"fingerprint-key-file: " + fpKey,
	}, "\n"))
	t.Setenv("REPLICAD_HTTP_ADDR", "127.0.0.1:8002")
	t.Setenv("REPLICAD_WORKERS", "8")
	t.Setenv("DATABASE_URL", "postgres://app:hunter2@db:5432/replicad")

	cfg, err := parseConfig([]string{"--config", cfgFile, "--workers", "9"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "127.0.0.1:7001" || cfg.HTTPAddr != "127.0.0.1:8002" || cfg.Engine.Queue.Workers != 9 ||
		cfg.DefaultRegion != "eu-west-1" || cfg.AWS.WriteRate != 11 || cfg.DatabaseURL != "postgres://app:hunter2@db:5432/replicad" {
		t.Errorf("precedence: %+v", cfg)
	}
	if len(cfg.DataKeys) != 1 || len(cfg.DataKeys[0]) != 32 || len(cfg.FingerprintKey) != 32 {
		t.Errorf("keys not loaded: %d data keys", len(cfg.DataKeys))
	}
	if cfg.Engine.ReplicationDeadline != 10*time.Minute {
		t.Errorf("defaults lost: replication deadline %s", cfg.Engine.ReplicationDeadline)
	}
	if cfg.Engine.RetryFor != 15*time.Minute {
		t.Errorf("defaults lost: --retry-for %s, want the documented 15m", cfg.Engine.RetryFor)
	}
	if set, err := parseConfig([]string{"--config", cfgFile, "--retry-for", "90s"}, &bytes.Buffer{}); err != nil || set.Engine.RetryFor != 90*time.Second {
		t.Errorf("--retry-for 90s: %v, %v", set.Engine.RetryFor, err)
	}

	// The effective configuration is logged with the password masked.
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("effective configuration", "config", cfg)
	if strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), `"workers":9`) || !strings.Contains(logs.String(), "xxxxx") {
		t.Errorf("effective configuration log: %s", logs.String())
	}
}

func TestUnknownSettingsAreRefused(t *testing.T) {
	dir := t.TempDir()
	cfgFile := writeFile(t, dir, "bad.yaml", "grpc-adress: 127.0.0.1:1\n")
	if _, err := parseConfig([]string{"--config", cfgFile}, &bytes.Buffer{}); err == nil {
		t.Error("a misspelt setting in the config file was accepted")
	}
	if _, err := parseConfig([]string{"--wokers", "3"}, &bytes.Buffer{}); err == nil {
		t.Error("a misspelt flag was accepted")
	}
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	for _, want := range []string{"--grpc-addr", "--database-url", "REPLICAD_", "--config", "--aws-write-rate", "--audit-retention", "--otlp-endpoint", "audit verify"} {
		if !strings.Contains(out.String(), strings.TrimPrefix(want, "-")) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "policy.yaml", `version: 1
rules:
  - name: app-eu
    effect: allow
    principals: ["spiffe://corp/app"]
    actions: [replicate]
    secrets: ["prod/app/*"]
    regions: [eu-west-1]
  - name: never-ap-south
    effect: deny
    principals: ["**"]
    actions: [replicate]
    secrets: ["**"]
    regions: [ap-south-1]
`)
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--principal", "spiffe://corp/app", "--action", "replicate", "--secret", "prod/app/x", "--region", "eu-west-1"}, 0, "app-eu"},
		{[]string{"--principal", "spiffe://corp/app", "--action", "replicate", "--secret", "prod/db/x", "--region", "eu-west-1"}, 1, "DENIED"},
		{[]string{"--principal", "spiffe://corp/app", "--action", "replicate", "--secret", "prod/app/x", "--region", "eu-west-1", "--region", "ap-south-1"}, 1, "never-ap-south"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(append([]string{"policy", "check", "--policy-file", file}, tt.args...), &out, &errOut)
		if code != tt.code || !strings.Contains(strings.ToUpper(out.String()), strings.ToUpper(tt.contains)) {
			t.Errorf("policy check %v: exit %d, output %q; want exit %d mentioning %q", tt.args, code, out.String(), tt.code, tt.contains)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"policy", "check", "--policy-file", writeFile(t, dir, "bad.yaml", "version: 1\nrules:\n  - name: x\n    effect: maybe\n"), "--action", "status"}, &out, &out); code != 2 {
		t.Errorf("a broken policy: exit %d, want 2", code)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "replicad ") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
}
