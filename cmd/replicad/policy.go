package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/replicad/replicad/internal/access"
)

const policyUsage = `Usage:
  replicad policy check --policy-file FILE --principal P [--group G]... --action A
                        [--secret S] [--region R]... [-o json]
      May principal P (in groups G) do action A on secret S in Regions R,
      and which rule decides? Actions: %s.

Exit status: 0 allowed, 1 denied, 2 usage error or invalid policy.
`

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func runPolicy(args []string, stdout, stderr io.Writer) int {
	usage := fmt.Sprintf(policyUsage, strings.Join(access.Actions(), ", "))
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("replicad policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	file := fs.String("policy-file", "", "the policy file")
	principal := fs.String("principal", "", "the caller's principal (SPIFFE id, DNS name, or token subject)")
	action := fs.String("action", "", "the action")
	secret := fs.String("secret", "", "the secret name or ARN (empty: all secrets)")
	output := fs.String("o", "text", "output: text or json")
	var groups, regions repeated
	fs.Var(&groups, "group", "a group of the caller (repeatable)")
	fs.Var(&regions, "region", "a target Region (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *file == "" || *action == "" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	p, err := access.Load(*file)
	if err != nil {
		fmt.Fprintln(stderr, "replicad policy check:", err)
		return 2
	}
	ex := p.Explain(access.Request{Principal: *principal, Groups: groups, Action: *action, Secret: *secret, Regions: regions})
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ex)
	} else {
		fmt.Fprintln(stdout, ex.String())
	}
	if !ex.Decision.Allowed {
		return 1
	}
	return 0
}
