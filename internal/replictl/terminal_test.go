package replictl_test

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/replicad/replicad/internal/replictl"
)

// TestWaitOnTerminal runs --wait with its output on a real pseudo-terminal,
// then replays what the terminal received through a small screen model:
// the progress block must have been redrawn in place (cursor movement, an
// InProgress frame) and leave exactly one final block on the screen.
func TestWaitOnTerminal(t *testing.T) {
	t.Parallel()
	f := startReplicating(t)
	name := f.seed(t, "app/tty")

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	if !term.IsTerminal(int(tty.Fd())) {
		t.Fatal("the pty's slave end is not a terminal")
	}
	var raw bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// Reading the master fails with EIO once the slave is closed.
		_, _ = io.Copy(&raw, ptmx)
	}()
	width, _, err := term.GetSize(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	r := runWith(t, replictl.IO{Stdout: tty, Terminal: true, Width: width},
		"replicate", name, "--region", "eu-west-3", "--region", "ap-southeast-5:alias/apse5", "--wait", "--server", f.env.GRPCAddr())
	tty.Close()
	<-copied
	if r.code != replictl.ExitOK {
		t.Fatalf("exit %d, want 0", r.code)
	}
	out := raw.String()
	t.Logf("terminal received %d bytes", len(out))
	if !strings.Contains(out, "\x1b[3A") {
		t.Errorf("no cursor-up redraw in the terminal output: %q", out)
	}
	if !strings.Contains(out, "InProgress") {
		t.Errorf("no InProgress frame was shown: %q", out)
	}
	screen := replay(out)
	t.Logf("final screen:\n%s", strings.Join(screen, "\n"))
	if len(screen) != 3 {
		t.Fatalf("screen holds %d lines, want the header and two Regions", len(screen))
	}
	for i, want := range [][]string{
		{"✔", "REPLICATE", name, "SUCCEEDED"},
		{"eu-west-3", "SUCCEEDED", "InSync"},
		{"ap-southeast-5", "SUCCEEDED", "InSync"},
	} {
		for _, w := range want {
			if !strings.Contains(screen[i], w) {
				t.Errorf("screen line %d %q lacks %q", i, screen[i], w)
			}
		}
	}
}

// replay models the handful of terminal controls replictl uses (carriage
// return, newline, cursor up, clear line, colours) and returns the
// non-empty screen lines, with colours removed.
func replay(s string) []string {
	var lines [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(lines) <= row {
			lines = append(lines, nil)
		}
		for len(lines[row]) <= col {
			lines[row] = append(lines[row], ' ')
		}
		lines[row][col] = r
		col++
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '\r':
			col = 0
		case '\n':
			row++
		case '\x1b':
			j := i + 2 // skip ESC [
			for j < len(rs) && (rs[j] < '@' || rs[j] > '~') {
				j++
			}
			if j >= len(rs) {
				return nil
			}
			n, _ := strconv.Atoi(string(rs[i+2 : j]))
			switch rs[j] {
			case 'A':
				row = max(0, row-max(n, 1))
			case 'K':
				if row < len(lines) {
					lines[row] = nil
				}
			}
			i = j
		default:
			put(c)
		}
	}
	var screen []string
	for _, l := range lines {
		if s := strings.TrimRight(string(l), " "); s != "" {
			screen = append(screen, s)
		}
	}
	return screen
}
