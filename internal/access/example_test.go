package access_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/replicad/replicad/internal/access"
)

func ExamplePolicy_Decide() {
	p, err := access.Load("testdata/example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	d := p.Decide(access.Request{
		Principal: "spiffe://corp/ns/payments/sa/api",
		Action:    access.ActionReplicate,
		Secret:    "prod/payments/card-keys",
		Regions:   []string{"eu-west-3", "us-east-1"},
	})
	fmt.Println(d.Allowed, d.Reason) // for logs and audit
	fmt.Println(d.Err())             // for the caller
	// Output:
	// false no rule allows replicate on prod/payments/card-keys in us-east-1
	// permission denied: replicate on prod/payments/card-keys in us-east-1
}

// The server keeps the policy current by polling its file, and reloads it
// at once on SIGHUP. A broken file is logged and the policy in force stays.
func ExampleStore_Watch() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := access.NewStore("/etc/replicad/policy.yaml", access.StoreOptions{})
	if err != nil {
		slog.Error("no policy", "err", err)
		return
	}
	logErr := func(err error) { slog.Error("policy not reloaded; previous policy stays in force", "err", err) }
	go store.Watch(ctx, logErr)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := store.Reload(); err != nil {
					logErr(err)
				}
			}
		}
	}()

	// In an interceptor:
	d := store.Decide(access.Request{Principal: "alice", Action: access.ActionStatus, Secret: "prod/db"})
	if err := d.Err(); err != nil {
		slog.Info("denied", "rule", d.Rule, "reason", d.Reason, "policy", d.Policy)
	}
}
