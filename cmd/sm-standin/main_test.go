package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/replicad/replicad/internal/testtier"
)

var listening = regexp.MustCompile(`^sm-standin listening on (http://\S+)$`)

// readURL reads stdout until the listening line.
func readURL(t *testing.T, r io.Reader) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				lines <- m[1]
			}
		}
		close(lines)
	}()
	select {
	case url, ok := <-lines:
		if !ok {
			t.Fatal("stdout closed before the listening line")
		}
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("no listening line within 30s")
	}
	return ""
}

func client(url, region string) *secretsmanager.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "not-a-secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(url) })
}

// TestBinary builds the command, starts it as a process, talks to it with
// the SDK, and stops it with SIGTERM as a container runtime would. Slow
// tier: a go build and a second process.
func TestBinary(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sm-standin")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--seed-demo", "--replication-delay", "50ms")
	cmd.Env = append(os.Environ(), "SM_STANDIN_WRITE_BUDGET=3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	url := readURL(t, stdout)

	resp, err := http.Get(url + "/_standin/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	ctx := context.Background()
	d, err := client(url, "us-east-1").DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/payments/api-key")})
	if err != nil {
		t.Fatalf("the seeded demo secret: %v", err)
	}
	if !strings.HasPrefix(aws.ToString(d.ARN), "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/payments/api-key-") {
		t.Errorf("ARN %q", aws.ToString(d.ARN))
	}
	// The write budget came from the environment: the 4th write in a
	// second is throttled.
	var codes []string
	for range 4 {
		_, err := client(url, "eu-west-1").DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("missing")})
		var ae smithy.APIError
		if errors.As(err, &ae) {
			codes = append(codes, ae.ErrorCode())
		}
	}
	if strings.Join(codes, ",") != "ResourceNotFoundException,ResourceNotFoundException,ResourceNotFoundException,ThrottlingException" {
		t.Errorf("codes %v, want three not-found then a throttle", codes)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not exit within 15s of SIGTERM")
	}
	// Logs are JSON, one record per line.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no graceful stop in the logs:\n%s", stderr.String())
	}
}

func TestRunFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SM_STANDIN_THROTTLE_RATE": "1", "SM_STANDIN_ACCOUNT": "111122223333"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		// The flag wins over the environment for the account.
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--account", "444455556666"}, pw, io.Discard, func(k string) string { return env[k] })
		pw.Close()
	}()
	url := readURL(t, pr)

	_, err := client(url, "eu-west-3").ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Errorf("with SM_STANDIN_THROTTLE_RATE=1: %v", err)
	}
	resp, err := http.Get(url + "/_standin/faults")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"throttleRate": 1`) {
		t.Errorf("faults %s", body)
	}
	resp, err = http.Post(url+"/_standin/faults", "application/json", strings.NewReader(`{"throttleRate":0}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out, err := client(url, "eu-west-3").CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("x"), SecretString: aws.String("v")})
	if err != nil || !strings.Contains(aws.ToString(out.ARN), ":444455556666:") {
		t.Errorf("CreateSecret: %v %v", out, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"bad env number", nil, map[string]string{"SM_STANDIN_WRITE_BUDGET": "lots"}},
		{"bad env duration", nil, map[string]string{"SM_STANDIN_LATENCY": "10"}},
		{"rate out of range", []string{"--error-rate", "2"}, nil},
		{"bad account", []string{"--account", "abc"}, nil},
		{"bad log level", []string{"--log-level", "loud"}, nil},
		{"unknown flag", []string{"--nope"}, nil},
		{"stray argument", []string{"serve"}, nil},
	} {
		err := run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, tc.args...), io.Discard, io.Discard,
			func(k string) string { return tc.env[k] })
		if err == nil {
			t.Errorf("%s: run succeeded", tc.name)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, io.Discard, &out, func(string) string { return "" })
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help returned %v", err)
	}
	for _, want := range []string{"-addr", "-account", "-replication-delay", "-throttle-rate", "-error-rate", "-latency",
		"-write-budget", "-read-budget", "-seed-demo", "SM_STANDIN_WRITE_BUDGET", "listening on"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}
