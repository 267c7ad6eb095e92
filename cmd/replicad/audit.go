package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterbourgon/ff/v3"

	"github.com/replicad/replicad/internal/audit"
)

const auditUsage = `Usage:
  replicad audit verify [--database-url URL] [--audit-export-dir DIR] [--known-position N --known-hash HEX] [-o json]
      Walk the audit hash chain in the database and report the first broken
      link. A head recorded earlier (from the "audit chain head" log lines)
      also detects events removed from the end. With the export directory,
      every retention anchor is checked against its export file, and a known
      head in the exported part of the chain is checked there.
  replicad audit verify-export FILE...
      Check exported audit files (from --audit-export-dir), in chain order,
      offline.

Exit status: 0 the chain verifies, 1 it is broken, 2 usage or access error.
`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, stderr)
	case "verify-export":
		return auditVerifyExport(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, auditUsage)
		return 0
	}
	fmt.Fprintf(stderr, "replicad audit: unknown command %q\n%s", args[0], auditUsage)
	return 2
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replicad audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", "", "PostgreSQL URL; DATABASE_URL is used when unset")
	exportDir := fs.String("audit-export-dir", "", "the directory retention exports to (as the server's --audit-export-dir): check every anchor against its export file")
	knownPos := fs.Int64("known-position", 0, "a chain position recorded earlier")
	knownHash := fs.String("known-hash", "", "the hash recorded with --known-position (hex)")
	output := fs.String("o", "text", "output: text or json")
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix("REPLICAD")); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *dbURL == "" {
		*dbURL = os.Getenv("DATABASE_URL")
	}
	var known *audit.Known
	if *knownPos != 0 || *knownHash != "" {
		h, err := hex.DecodeString(*knownHash)
		if err != nil || len(h) != 32 || *knownPos <= 0 {
			fmt.Fprintln(stderr, "replicad audit verify: --known-position must be positive and --known-hash 64 hex digits")
			return 2
		}
		known = &audit.Known{Position: *knownPos, Hash: h}
	}
	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		fmt.Fprintln(stderr, "replicad audit verify: --database-url is not a valid PostgreSQL URL")
		return 2
	}
	defer pool.Close()
	rep, err := audit.Verify(ctx, pool, known, *exportDir)
	if err != nil {
		fmt.Fprintln(stderr, "replicad audit verify:", err)
		return 2
	}
	if *output == "json" {
		out := map[string]any{"ok": rep.OK, "verified": rep.Verified, "first_position": rep.FirstPosition,
			"head_position": rep.HeadPosition, "head_hash": hex.EncodeToString(rep.HeadHash), "unchained": rep.Unchained,
			"anchors": rep.Anchors, "exports_verified": rep.ExportsVerified}
		if rep.Break != nil {
			out["first_break"] = rep.Break
		}
		_ = json.NewEncoder(stdout).Encode(out)
	} else if rep.OK {
		fmt.Fprintf(stdout, "OK: %d events verified (positions %d-%d), head %s; %d awaiting chaining\n",
			rep.Verified, rep.FirstPosition, rep.HeadPosition, hex.EncodeToString(rep.HeadHash), rep.Unchained)
		if rep.Anchors > 0 {
			fmt.Fprintf(stdout, "%d retention anchors verified, %d of them against their export files\n", rep.Anchors, rep.ExportsVerified)
			if rep.ExportsVerified < rep.Anchors {
				fmt.Fprintln(stdout, "warning: anchors not checked against the export files vouch only for themselves: pass --audit-export-dir")
			}
		}
	} else {
		fmt.Fprintf(stdout, "BROKEN at position %d (event %s): %s\n%d events verified before it\n",
			rep.Break.Position, rep.Break.EventID, rep.Break.Reason, rep.Verified)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func auditVerifyExport(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	var prev []byte
	var pos int64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "replicad audit verify-export:", err)
			return 2
		}
		pos, prev, err = audit.VerifyExport(f, prev)
		_ = f.Close() // read-only
		if err != nil {
			fmt.Fprintf(stdout, "BROKEN in %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "OK: exported chain verifies up to position %d, hash %s\n", pos, hex.EncodeToString(prev))
	return 0
}
