// Command replictl is the replicad command-line client. Run `replictl help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/replicad/replicad/internal/replictl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fd := int(os.Stdout.Fd())
	tty := term.IsTerminal(fd) && os.Getenv("TERM") != "dumb"
	width := 0
	if tty {
		width, _, _ = term.GetSize(fd)
	}
	code := replictl.Run(ctx, os.Args[1:], replictl.IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Terminal: tty, Width: width, Getenv: os.Getenv,
	})
	stop()
	os.Exit(code)
}
