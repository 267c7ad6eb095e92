// Package policy answers "what may a caller do": it decides whether an
// authenticated principal may perform an action on a secret in a set of
// Regions, from rules in a YAML file, and reloads that file safely while
// the server runs.
//
// # File format
//
// A policy file is one YAML document. Unknown fields, duplicate keys and
// a second document are errors. See testdata/example.yaml.
//
//	version: 1                  # required; the only version
//	rules:                      # required; "rules: []" denies everything
//	  - name: payments-replicate-eu          # required, unique: [A-Za-z0-9._-]
//	    description: free text, ignored      # optional
//	    effect: allow                        # required: allow | deny
//	    principals:                          # principals or groups (or both)
//	      - spiffe://corp/ns/payments/sa/*
//	    groups: [payments-oncall]
//	    actions: [replicate, status]         # required; or "*"
//	    secrets:                             # required
//	      - prod/payments/**
//	      - arn:aws:secretsmanager:*:123456789012:secret:prod/payments/**
//	    regions: [eu-*]                      # optional; empty or absent = any
//
// Actions: replicate, remove, promote, status, operations.read,
// operations.cancel, operations.approve, audit.read, policies.read,
// policies.write, policies.prune, and "*" for all of them. The policies.*
// actions are fleet-wide: they are asked with no secret, so only rules
// whose secrets include "**" grant them, and with the policy's desired
// Regions.
//
// # Two-person approval
//
// An optional approvals list names operations that wait, as
// AWAITING_APPROVAL, until a second person approves them:
//
//	approvals:
//	  - name: promote-prod                 # required
//	    actions: [promote, failover]       # operation kinds; free names
//	    secrets: [prod/**]                 # required, as in rules
//	    approvers: [dr-approvers]          # required: exact group names
//	    expires_after: 1h                  # optional; default 1h, at most 168h
//	    break_glass_sha256: [<64 hex>]     # optional: sha256sum of tokens
//
// The first entry matching the operation's kind and secret applies. The
// approver must be allowed operations.approve by the rules, be a member of
// an approvers group, and not be the requester. A request presenting a
// break-glass token (header x-replicad-break-glass) whose digest is listed
// runs at once, loudly audited.
//
// A rule applies to a caller whose principal matches one of its principals,
// or who is a member of a group matching one of its groups.
//
// # Patterns
//
// Principals, groups, secrets and Regions are patterns. "*" matches any run
// of characters except "/"; "**" matches any run of characters including
// "/", and the empty run; every other character matches itself ("***" is an
// error). So with "/" as the separator:
//
//	prod/payments/*      matches prod/payments/db, not prod/payments/db/primary
//	prod/payments/**     matches both, not prod/payments itself
//	prod/*/db            matches prod/payments/db, not prod/a/b/db
//	prod/db-*            matches prod/db-a, prod/db-b
//	spiffe://corp/ns/payments/*    matches spiffe://corp/ns/payments/sa, not .../sa/api
//	spiffe://corp/ns/payments/**   matches every identity of the namespace
//	eu-*                 matches eu-west-1, eu-central-2
//	**                   matches everything
//
// A pattern without "*" is an exact value.
//
// # Secrets: names and ARNs
//
// Callers name a secret by name (prod/db) or by ARN
// (arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-a1b2c3). A
// name pattern is matched against the secret's name, which for an ARN is
// its resource without Secrets Manager's six-character suffix (as package
// secretid parses it): the same rules govern a secret however it is named.
//
// An ARN pattern (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME,
// each field a pattern) is matched field by field against a request by ARN,
// its NAME field against the name as above. A request by bare name carries
// no account or Region, so an ARN pattern never allows it; write a name
// pattern for that. An ARN pattern in a deny rule does match a request by
// bare name on its NAME field alone: the secret might be in that account,
// and a deny must not be side-stepped by leaving the ARN out. For the same
// reason, for a request by ARN a deny's name patterns are also matched
// against the ARN's resource as written, in case it had no suffix.
//
// A request without a secret (listing every operation, reading the whole
// audit log) is about every secret: an allow rule matches it only if it
// lists the secret pattern "**", and any deny rule for the principal and
// action refuses it.
//
// # Regions
//
// A request's Regions are those its action touches: the targets of
// replicate and remove, the Region promoted in. A rule's regions list, when
// not empty, limits the rule to those Regions. A request that touches no
// Region (status, operations.*, audit.read) is not limited by any rule's
// regions.
//
// # Decisions
//
// Denied by default. A request is allowed only if, for every Region it
// touches, at least one allow rule matches and no deny rule matches. Any
// matching deny refuses the request, whatever allows also match and however
// specific they are: so a deny can be relied upon, and no one can undo it
// by writing a narrower allow. A request touching several Regions is
// refused if any one of them is.
//
// Specificity only chooses which rule a decision names (the deny that
// refused, or the allow that allowed). Between matching rules of the same
// effect, the more specific is the one whose matching secret pattern pins
// more characters (non-wildcard characters, counted over all its fields);
// then the one naming the principal exactly, over a principal pattern, over
// a group; then a named action over "*"; then an exact Region over a Region
// pattern over no regions list; and finally the rule earlier in the file.
//
// # Telling the caller
//
// Decision.Rule and Decision.Reason name rules: they are for logs, audit and
// the policy check CLI. Decision.Err gives the error for the caller,
// "permission denied: replicate on prod/db in ap-south-1", which repeats
// only the request, and matches ErrPermissionDenied for the server's
// error mapping.
//
// # Reloading
//
// A Store holds the policy in force behind an atomic pointer. Reload
// replaces it only with a policy that parsed and validated completely; a
// broken file is refused and the previous policy stays. Watch polls the
// file's contents. Signal handling (SIGHUP) is left to the server, which
// calls Reload.
package access
