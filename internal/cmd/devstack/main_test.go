package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/testtier"
)

// build compiles devstack and replicad into a temporary directory.
func build(t *testing.T) (devstack, replicad string) {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{".", "../../../cmd/replicad"} {
		cmd := exec.Command("go", "build", "-o", dir+"/", pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return filepath.Join(dir, "devstack"), filepath.Join(dir, "replicad")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// make run's ports can be moved, and Ctrl-C (SIGINT to the process group,
// as a terminal sends it) ends everything with exit status 0.
func TestPortsMoveAndInterruptEndsCleanly(t *testing.T) {
	testtier.Slow(t)
	devstack, replicad := build(t)
	httpAddr, grpcAddr, standinAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(devstack, "-data", t.TempDir(), "-replicad", replicad,
		"-http-addr", httpAddr, "-grpc-addr", grpcAddr, "-standin-addr", standinAddr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	banner := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Ctrl-C stops everything") {
				banner <- b.String()
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var text string
	select {
	case text = <-banner:
	case <-time.After(90 * time.Second):
		t.Fatalf("devstack did not start:\n%s", stderr.String())
	}
	if !strings.Contains(text, "http://"+httpAddr+"/v1/operations") || !strings.Contains(text, grpcAddr) || strings.Contains(text, "127.0.0.1:8080") {
		t.Errorf("the banner does not show the chosen addresses:\n%s", text)
	}
	// The README's first example, on the moved port.
	resp, err := http.Post("http://"+httpAddr+"/v1/secrets/prod%2Fdb%2Fprimary:replicate", "application/json",
		strings.NewReader(`{"regions": [{"region": "eu-west-3"}, {"region": "us-west-2", "kms_key_id": "alias/replica"}], "reason": "DR drill"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the README's replicate example: HTTP %d", resp.StatusCode)
	}
	// The inventory fills with the demo fleet: two accounts, a few dozen
	// secrets, scanned in the background.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/v1/secrets?page_size=1000")
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Secrets []struct {
				Account string `json:"account"`
			} `json:"secrets"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		accounts := map[string]bool{}
		for _, s := range page.Secrets {
			accounts[s.Account] = true
		}
		if err == nil && len(page.Secrets) >= 36 && len(accounts) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run's inventory holds %d secrets in %d accounts (%v), want the demo fleet", len(page.Secrets), len(accounts), err)
		}
		time.Sleep(100 * time.Millisecond) // polls a condition
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("devstack after Ctrl-C: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("devstack did not stop after Ctrl-C:\n%s", stderr.String())
	}
	if l, err := net.Listen("tcp", httpAddr); err != nil {
		t.Errorf("the HTTP port is still taken after the stop: %v", err)
	} else {
		l.Close()
	}
}

// A port in use fails at once, naming it and the setting that moves it,
// before PostgreSQL is even started.
func TestTakenPortFailsAtOnce(t *testing.T) {
	testtier.Slow(t)
	devstack, replicad := build(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, devstack, "-data", data, "-replicad", replicad,
		"-http-addr", taken.Addr().String(), "-grpc-addr", freeAddr(t), "-standin-addr", freeAddr(t)).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("devstack with a taken port: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), taken.Addr().String()) || !strings.Contains(string(out), "HTTP_ADDR") {
		t.Errorf("the error does not name the port and HTTP_ADDR:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "pg")); err == nil {
		t.Error("PostgreSQL was set up before the port was checked")
	}
}
