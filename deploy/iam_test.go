package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const iamPolicyFile = "iam/replicad-policy.json"

// secretsManagerCalls are the Secrets Manager operations the awssm adapter
// makes, and so the only secretsmanager: actions the IAM policy may grant.
// TestIAMAllowListMatchesAdapter fails when awssm starts or stops calling
// one: update this list and the policy together.
var secretsManagerCalls = []string{
	"DescribeSecret",
	"ListSecrets",
	"RemoveRegionsFromReplication",
	"ReplicateSecretToRegions",
	"StopReplicationToReplica",
}

// noResourceLevel are the actions AWS authorizes only on Resource "*"
// (ListSecrets supports no resource-level permissions); a statement
// granting them grants nothing else.
var noResourceLevel = map[string]bool{"secretsmanager:ListSecrets": true}

// kmsActions are what Secrets Manager needs, on replicad's behalf, to
// replicate secrets under customer managed keys: Decrypt on the primary's
// key, GenerateDataKey and Encrypt on a replica's (shared/seeds/
// boto3-replicate_secret_to_regions.txt). replicad itself never calls them.
var kmsActions = []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}

// kmsCalls are the KMS operations the awssm adapter makes itself (a
// policy's key aliases are resolved in each Region; readiness asks whether
// a replica's key is usable there): granted on the account's keys in the
// allowed Regions, without kms:ViaService.
// TestIAMAllowListMatchesAdapter fails when awssm starts or stops calling
// one.
var kmsCalls = []string{"DescribeKey"}

// iamPolicy is an IAM identity policy, decoded strictly: NotAction,
// NotResource, Principal and anything else unexpected are refused, because
// each of them widens or changes what the policy grants.
type iamPolicy struct {
	Version   string         `json:"Version"`
	ID        string         `json:"Id,omitempty"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Sid       string                             `json:"Sid,omitempty"`
	Effect    string                             `json:"Effect"`
	Action    stringOrList                       `json:"Action"`
	Resource  stringOrList                       `json:"Resource"`
	Condition map[string]map[string]stringOrList `json:"Condition,omitempty"`
}

// stringOrList is IAM's "one string or a list of strings".
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringOrList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*s = many
	return nil
}

func decodeIAMPolicy(data []byte) (iamPolicy, error) {
	var p iamPolicy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return p, errors.New("data after the policy document")
	}
	return p, nil
}

func loadIAMPolicy(t *testing.T) iamPolicy {
	t.Helper()
	data, err := os.ReadFile(iamPolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodeIAMPolicy(data)
	if err != nil {
		t.Fatalf("%s: %v", iamPolicyFile, err)
	}
	return p
}

// allowedRegions is config.yaml's allowed-regions, parsed by the daemon.
func allowedRegions(t *testing.T) []string {
	t.Helper()
	cfg, _, err := parseDaemonConfig(t, setup(t))
	if err != nil {
		t.Fatalf("%s: %v", configKey, err)
	}
	return cfg.AllowedRegions
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// iamProblems holds the policy to least privilege: only the actions
// replicad's calls need, on secrets and keys of the account, in the
// Regions replicad is allowed to act in (regions, from config.yaml).
func iamProblems(p iamPolicy, regions []string) []string {
	var ps []string
	if p.Version != "2012-10-17" {
		ps = append(ps, fmt.Sprintf("Version %q, want 2012-10-17 (the older version has no policy variables)", p.Version))
	}
	allowed := map[string]bool{}
	for _, op := range secretsManagerCalls {
		allowed["secretsmanager:"+op] = true
	}
	for _, a := range kmsActions {
		allowed[a] = true
	}
	direct := map[string]bool{}
	for _, op := range kmsCalls {
		allowed["kms:"+op] = true
		direct["kms:"+op] = true
	}
	granted := map[string]bool{}
	for i, st := range p.Statement {
		name := st.Sid
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		add := func(format string, args ...any) { ps = append(ps, "statement "+name+": "+fmt.Sprintf(format, args...)) }
		if st.Effect != "Allow" {
			add("Effect %q: this policy only allows", st.Effect)
			continue
		}
		if len(st.Action) == 0 || len(st.Resource) == 0 {
			add("needs Action and Resource")
		}
		var sm, kms, kmsDirect bool
		for _, a := range st.Action {
			switch {
			case strings.ContainsAny(a, "*?"):
				add("wildcard action %q", a)
			case !allowed[a]:
				add("grants %q, which the awssm adapter does not call (or Secrets Manager does not need)", a)
			}
			granted[a] = true
			sm = sm || strings.HasPrefix(a, "secretsmanager:")
			kms = kms || (strings.HasPrefix(a, "kms:") && !direct[a])
			kmsDirect = kmsDirect || direct[a]
		}
		if sm && (kms || kmsDirect) {
			add("mixes secretsmanager and kms actions: their resources and conditions differ")
		}
		if kms && kmsDirect {
			add("mixes KMS actions replicad calls with those Secrets Manager makes on its behalf: their conditions differ")
		}
		listOnly := len(st.Action) > 0
		for _, a := range st.Action {
			listOnly = listOnly && noResourceLevel[a]
		}
		for _, r := range st.Resource {
			switch {
			case r == "*" && listOnly:
				// The only resource these actions accept.
			case r == "*":
				add("Resource \"*\"")
			case listOnly:
				add("Resource %q: %v accept only \"*\"", r, st.Action)
			case sm && !(strings.HasPrefix(r, "arn:aws:secretsmanager:") && strings.Contains(r, ":secret:")):
				add("Resource %q is not a Secrets Manager secret ARN", r)
			case (kms || kmsDirect) && !(strings.HasPrefix(r, "arn:aws:kms:") && strings.Contains(r, ":key/")):
				add("Resource %q is not a KMS key ARN", r)
			}
		}
		cond := func(op, key string) []string { return st.Condition[op][key] }
		if (sm || kmsDirect) && !sameSet(cond("StringEquals", "aws:RequestedRegion"), regions) {
			add("StringEquals aws:RequestedRegion %v, want allowed-regions %v", cond("StringEquals", "aws:RequestedRegion"), regions)
		}
		// Replicas only in allowed Regions. ForAllValues is also true when
		// the key is absent: Null false requires it.
		if slices.Contains(st.Action, "secretsmanager:ReplicateSecretToRegions") {
			if got := cond("ForAllValues:StringEquals", "secretsmanager:AddReplicaRegions"); !sameSet(got, regions) {
				add("ForAllValues:StringEquals secretsmanager:AddReplicaRegions %v, want allowed-regions %v", got, regions)
			}
			if got := cond("Null", "secretsmanager:AddReplicaRegions"); !slices.Equal(got, []string{"false"}) {
				add("needs Null secretsmanager:AddReplicaRegions \"false\"")
			}
		}
		// Keys only through Secrets Manager, in allowed Regions.
		if kms {
			var want []string
			for _, r := range regions {
				want = append(want, "secretsmanager."+r+".amazonaws.com")
			}
			if got := cond("StringEquals", "kms:ViaService"); !sameSet(got, want) {
				add("StringEquals kms:ViaService %v, want %v", got, want)
			}
		}
	}
	for a := range allowed {
		if (strings.HasPrefix(a, "secretsmanager:") || direct[a]) && !granted[a] {
			ps = append(ps, fmt.Sprintf("%s is not granted: the awssm adapter calls it", a))
		}
	}
	return ps
}

func TestIAMPolicy(t *testing.T) {
	t.Parallel()
	for _, p := range iamProblems(loadIAMPolicy(t), allowedRegions(t)) {
		t.Errorf("%s: %s", iamPolicyFile, p)
	}
}

// awssmCalls finds the Secrets Manager operations awssm's source uses:
// their SDK input types and the methods called on a Region's client.
func awssmCalls(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../internal/awssm/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no awssm sources: %v", err)
	}
	inputs := regexp.MustCompile(`secretsmanager\.(\w+)Input\b`)
	calls := regexp.MustCompile(`\.client\([^)]*\)\.(\w+)\(`)
	var ops []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{inputs, calls} {
			for _, m := range re.FindAllSubmatch(data, -1) {
				ops = append(ops, string(m[1]))
			}
		}
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

// awssmKMSCalls finds the KMS operations awssm's source uses, by their SDK
// input types.
func awssmKMSCalls(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../internal/awssm/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no awssm sources: %v", err)
	}
	inputs := regexp.MustCompile(`kms\.(\w+)Input\b`)
	var ops []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inputs.FindAllSubmatch(data, -1) {
			ops = append(ops, string(m[1]))
		}
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

func TestIAMAllowListMatchesAdapter(t *testing.T) {
	t.Parallel()
	got := awssmCalls(t)
	if !slices.Equal(got, secretsManagerCalls) {
		t.Errorf("awssm calls %v; secretsManagerCalls lists %v: update the list and %s together", got, secretsManagerCalls, iamPolicyFile)
	}
	if got := awssmKMSCalls(t); !slices.Equal(got, kmsCalls) {
		t.Errorf("awssm calls KMS %v; kmsCalls lists %v: update the list and %s together", got, kmsCalls, iamPolicyFile)
	}
}

// TestIAMChecksCatchMistakes breaks a copy of the policy one way at a time.
func TestIAMChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	regions := allowedRegions(t)
	tests := []struct {
		name   string
		break_ func(p *iamPolicy)
		want   string
	}{
		{"service wildcard", func(p *iamPolicy) { p.Statement[0].Action = append(p.Statement[0].Action, "secretsmanager:*") }, "wildcard"},
		{"secret values", func(p *iamPolicy) {
			p.Statement[0].Action = append(p.Statement[0].Action, "secretsmanager:GetSecretValue")
		}, "GetSecretValue"},
		{"a call left out", func(p *iamPolicy) {
			for i := range p.Statement {
				p.Statement[i].Action = slices.DeleteFunc(p.Statement[i].Action, func(a string) bool { return a == "secretsmanager:StopReplicationToReplica" })
			}
		}, "StopReplicationToReplica is not granted"},
		{"any Region for replicas", func(p *iamPolicy) {
			for i := range p.Statement {
				delete(p.Statement[i].Condition, "ForAllValues:StringEquals")
			}
		}, "AddReplicaRegions"},
		{"an extra replica Region", func(p *iamPolicy) {
			for i := range p.Statement {
				if c := p.Statement[i].Condition["ForAllValues:StringEquals"]; c != nil {
					c["secretsmanager:AddReplicaRegions"] = append(c["secretsmanager:AddReplicaRegions"], "ap-south-1")
				}
			}
		}, "allowed-regions"},
		{"every resource", func(p *iamPolicy) { p.Statement[0].Resource = stringOrList{"*"} }, `Resource "*"`},
		{"keys used directly", func(p *iamPolicy) {
			for i := range p.Statement {
				delete(p.Statement[i].Condition, "StringEquals")
			}
		}, "kms:ViaService"},
		{"old version", func(p *iamPolicy) { p.Version = "2008-10-17" }, "Version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := loadIAMPolicy(t) // a fresh copy each time
			tt.break_(&p)
			problems := iamProblems(p, regions)
			if !slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("no problem mentioning %q; problems: %q", tt.want, problems)
			}
		})
	}
	// Fields that change a policy's meaning are refused outright.
	for _, doc := range []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"kms:Decrypt","Resource":"*"}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"x"}]}`,
		`{"Version":"2012-10-17","Statement":[]} {}`,
	} {
		if _, err := decodeIAMPolicy([]byte(doc)); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}
