package replictl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// unreachableGrace is how long --wait keeps polling through a server that
// cannot be reached: a rolling restart of replicad should not turn into a
// failed wait, since the operation itself carries on in the database.
const unreachableGrace = 60 * time.Second

// follow polls an operation until it ends, showing progress, and returns
// an error unless it SUCCEEDED.
func (c *cli) follow(ctx context.Context, cl *clients, op *replicadv1.Operation) error {
	p := c.progress()
	p.update(op)
	var downSince time.Time
	for !terminal(op.GetState()) {
		select {
		case <-ctx.Done():
			p.interrupted(op)
			return fmt.Errorf("stopped waiting for operation %s (still %s; it carries on): follow it with replictl operations get %s --wait: %w",
				op.GetId(), stateName(op.GetState()), op.GetId(), ctx.Err())
		case <-time.After(c.io.PollInterval):
		}
		got, err := c.getOperation(ctx, cl, op.GetId())
		var unreach *unreachableError
		switch {
		case err != nil && ctx.Err() != nil:
			continue // interrupted: the select above says so
		case errors.As(err, &unreach), status.Code(err) == codes.Unavailable:
			if downSince.IsZero() {
				downSince = time.Now()
			}
			if time.Since(downSince) > unreachableGrace {
				p.interrupted(op)
				return err
			}
			continue
		case err != nil:
			p.interrupted(op)
			return err
		}
		downSince = time.Time{}
		op = got
		p.update(op)
	}
	p.done(op)
	if c.output == "json" {
		if err := writeJSON(c.io.Stdout, op); err != nil {
			return err
		}
	}
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		return &operationEndedError{op: op}
	}
	return nil
}

func terminal(s replicadv1.OperationState) bool {
	switch s {
	case replicadv1.OperationState_OPERATION_STATE_SUCCEEDED,
		replicadv1.OperationState_OPERATION_STATE_FAILED,
		replicadv1.OperationState_OPERATION_STATE_CANCELLED:
		return true
	}
	return false
}

// progress shows an operation as it moves.
type progress interface {
	update(op *replicadv1.Operation)
	done(op *replicadv1.Operation)
	interrupted(op *replicadv1.Operation)
}

func (c *cli) progress() progress {
	switch {
	case c.output == "json":
		// Stdout is for the one JSON document; scripts poll nothing else.
		return quietProgress{}
	case c.io.Terminal:
		return &liveProgress{w: c.io.Stdout, width: c.io.Width, start: time.Now()}
	default:
		return &lineProgress{w: c.io.Stdout, regions: map[string]string{}}
	}
}

type quietProgress struct{}

func (quietProgress) update(*replicadv1.Operation)      {}
func (quietProgress) done(*replicadv1.Operation)        {}
func (quietProgress) interrupted(*replicadv1.Operation) {}

// lineProgress writes one line per change, for logs and pipes: no cursor
// movement, nothing repeated.
type lineProgress struct {
	w       io.Writer
	state   string
	regions map[string]string
	retry   string
}

func (p *lineProgress) update(op *replicadv1.Operation) {
	now := time.Now().UTC().Format(time.RFC3339)
	if s := stateName(op.GetState()); s != p.state {
		if p.state == "" {
			fmt.Fprintf(p.w, "%s operation %s %s %s: %s\n", now, op.GetId(), kindName(op.GetKind()), op.GetSecretId(), s)
		} else {
			fmt.Fprintf(p.w, "%s operation %s: %s\n", now, op.GetId(), s)
		}
		p.state = s
	}
	for _, r := range op.GetRegions() {
		line := regionStateName(r.GetState())
		if st := awsStatus(r.GetReplicationStatus()); st != "-" {
			line += " " + st
		}
		if r.GetMessage() != "" {
			line += fmt.Sprintf(" %q", r.GetMessage())
		}
		if p.regions[r.GetRegion()] != line {
			p.regions[r.GetRegion()] = line
			fmt.Fprintf(p.w, "%s   %s %s\n", now, r.GetRegion(), line)
		}
	}
	if line := retrying(op); line != p.retry {
		p.retry = line
		if line != "" {
			fmt.Fprintf(p.w, "%s   %s\n", now, line)
		}
	}
}

func (p *lineProgress) done(op *replicadv1.Operation) {
	p.update(op)
	if st := op.GetError(); st != nil {
		fmt.Fprintf(p.w, "error: %s: %s\n", codeName(codes.Code(st.GetCode())), printable(st.GetMessage()))
	}
}

func (p *lineProgress) interrupted(op *replicadv1.Operation) { p.update(op) }

// liveProgress redraws a block in place: a header and one line per Region,
// with a spinner and the elapsed time, like a build tool's progress.
type liveProgress struct {
	w     io.Writer
	width int
	start time.Time
	lines int
	tick  int
}

// spinnerFrames turn once per poll while the operation runs.
const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

func (p *liveProgress) update(op *replicadv1.Operation) { p.draw(op, false) }

func (p *liveProgress) done(op *replicadv1.Operation) { p.draw(op, true) }

func (p *liveProgress) interrupted(op *replicadv1.Operation) { p.draw(op, true) }

const (
	ansiUp        = "\x1b[%dA"
	ansiClearLine = "\x1b[2K"
	ansiBold      = "\x1b[1m"
	ansiGreen     = "\x1b[32m"
	ansiRed       = "\x1b[31m"
	ansiYellow    = "\x1b[33m"
	ansiReset     = "\x1b[0m"
)

func (p *liveProgress) draw(op *replicadv1.Operation, final bool) {
	var body bytes.Buffer
	elapsed := time.Since(p.start).Round(100 * time.Millisecond)
	frames := []rune(spinnerFrames)
	mark := string(frames[p.tick%len(frames)])
	p.tick++
	if final {
		mark = symbol(op.GetState())
	}
	fmt.Fprintf(&body, "%s %s%s%s %s %s  %s  %s\n", mark, ansiBold, kindName(op.GetKind()), ansiReset,
		op.GetSecretId(), colour(stateName(op.GetState())), op.GetId(), elapsed)
	tw := table(&body)
	for _, r := range op.GetRegions() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.GetRegion(), colour(regionStateName(r.GetState())),
			awsStatus(r.GetReplicationStatus()), printable(r.GetMessage()))
	}
	_ = tw.Flush()
	if line := retrying(op); line != "" {
		fmt.Fprintf(&body, "  %sretrying%s: %s\n", ansiYellow, ansiReset, line)
	}
	if final {
		if st := op.GetError(); st != nil {
			fmt.Fprintf(&body, "  %serror%s: %s: %s\n", ansiRed, ansiReset, codeName(codes.Code(st.GetCode())), printable(st.GetMessage()))
		}
	}

	var out bytes.Buffer
	if p.lines > 0 {
		fmt.Fprintf(&out, ansiUp, p.lines)
	}
	lines := strings.Split(strings.TrimSuffix(body.String(), "\n"), "\n")
	for _, l := range lines {
		out.WriteString("\r" + ansiClearLine + p.fit(l) + "\n")
	}
	// A block that shrank leaves stale lines below: clear them.
	for i := len(lines); i < p.lines; i++ {
		out.WriteString(ansiClearLine + "\n")
	}
	if extra := p.lines - len(lines); extra > 0 {
		fmt.Fprintf(&out, ansiUp, extra)
	}
	p.lines = len(lines)
	_, _ = p.w.Write(out.Bytes())
}

// fit cuts a line to the terminal's width, not counting escape sequences,
// so that a wrapped line never breaks the cursor arithmetic.
func (p *liveProgress) fit(line string) string {
	if p.width <= 0 {
		return line
	}
	var b strings.Builder
	visible, inEscape := 0, false
	for _, r := range line {
		switch {
		case r == '\x1b':
			inEscape = true
		case inEscape:
			if r >= '@' && r <= '~' && r != '[' {
				inEscape = false
			}
		default:
			if visible >= p.width-1 {
				continue
			}
			visible++
		}
		b.WriteRune(r)
	}
	return b.String()
}

// printable drops control characters from text that came from the server
// or AWS, so that it cannot move the cursor or recolour the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

func symbol(s replicadv1.OperationState) string {
	switch s {
	case replicadv1.OperationState_OPERATION_STATE_SUCCEEDED:
		return ansiGreen + "✔" + ansiReset
	case replicadv1.OperationState_OPERATION_STATE_FAILED:
		return ansiRed + "✘" + ansiReset
	}
	return ansiYellow + "■" + ansiReset
}

func colour(state string) string {
	switch state {
	case "SUCCEEDED":
		return ansiGreen + state + ansiReset
	case "FAILED":
		return ansiRed + state + ansiReset
	case "CANCELLED", "SKIPPED":
		return ansiYellow + state + ansiReset
	}
	return state
}
