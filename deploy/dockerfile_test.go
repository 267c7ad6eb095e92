package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const dockerfile = "Dockerfile"

// dockerInstruction is one instruction, continuation lines joined.
type dockerInstruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// dockerStage is a FROM and the instructions after it.
type dockerStage struct {
	image, name string
	instrs      []dockerInstruction
}

// parseDockerfile splits a Dockerfile into stages. It knows just enough of
// the syntax for the checks below: comments, line continuations and FROM's
// flags and AS.
func parseDockerfile(text string) ([]dockerStage, error) {
	var stages []dockerStage
	var cur strings.Builder
	start := 0
	flush := func() error {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := dockerInstruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := slices.DeleteFunc(strings.Fields(in.args), func(w string) bool { return strings.HasPrefix(w, "--") })
			if len(f) == 0 {
				return fmt.Errorf("line %d: FROM without an image", in.line)
			}
			st := dockerStage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				return nil // global build arguments come before FROM
			}
			return fmt.Errorf("line %d: %s before any FROM", in.line, in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue // comments (and parser directives), also inside continuations
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return stages, sc.Err()
}

// goDirective is go.mod's go version, major.minor.
func goDirective(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// dockerfileProblems checks what the manifests rely on: a static binary
// in an image with no shell, running as the non-root uid the pod's
// securityContext names, exposing the container's ports.
func dockerfileProblems(text, goVersion string, uid int64, ports []int32) []string {
	stages, err := parseDockerfile(text)
	if err != nil {
		return []string{err.Error()}
	}
	if len(stages) < 2 {
		return []string{fmt.Sprintf("%d stages: build in one, ship the binary alone in another", len(stages))}
	}
	var ps []string
	final := stages[len(stages)-1]
	build := stages[:len(stages)-1]
	if img := final.image; img != "scratch" && !(strings.HasPrefix(img, "gcr.io/distroless/") && strings.HasSuffix(img, ":nonroot")) {
		ps = append(ps, fmt.Sprintf("final stage FROM %s: want a distroless :nonroot image or scratch (no shell)", img))
	}
	var user string
	var entrypoint []string
	var copied, exposed []string
	for _, in := range final.instrs {
		switch in.cmd {
		case "RUN":
			ps = append(ps, fmt.Sprintf("line %d: RUN in the final stage: it has no shell, and should not need one", in.line))
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &entrypoint); err != nil {
				ps = append(ps, fmt.Sprintf("line %d: ENTRYPOINT must be exec form (a JSON list): no shell to run it, and signals must reach the binary", in.line))
			}
		case "COPY":
			f := strings.Fields(in.args)
			copied = append(copied, f[len(f)-1])
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		}
	}
	// A numeric uid lets the kubelet verify runAsNonRoot without /etc/passwd.
	u, _, _ := strings.Cut(user, ":")
	if n, err := strconv.ParseInt(u, 10, 64); err != nil || n == 0 {
		ps = append(ps, fmt.Sprintf("USER %q: want a numeric non-root uid in the final stage", user))
	} else if n != uid {
		ps = append(ps, fmt.Sprintf("USER %d differs from the pod's runAsUser %d", n, uid))
	}
	if len(entrypoint) == 0 || !slices.Contains(copied, entrypoint[0]) {
		ps = append(ps, fmt.Sprintf("ENTRYPOINT %v is not a binary copied into the final stage (%v)", entrypoint, copied))
	}
	for _, p := range ports {
		if !slices.Contains(exposed, strconv.Itoa(int(p))) && !slices.Contains(exposed, fmt.Sprintf("%d/tcp", p)) {
			ps = append(ps, fmt.Sprintf("EXPOSE lacks the container port %d", p))
		}
	}

	var cgoOff, trimpath, stripped, server bool
	goImage := false
	for _, st := range build {
		if img, tag, ok := strings.Cut(st.image, ":"); ok && img == "golang" {
			goImage = true
			if v, _, _ := strings.Cut(tag, "-"); v != goVersion && !strings.HasPrefix(v, goVersion+".") {
				ps = append(ps, fmt.Sprintf("build stage FROM %s: go.mod's go directive is %s", st.image, goVersion))
			}
		}
		for _, in := range st.instrs {
			if (in.cmd == "ENV" || in.cmd == "RUN") && strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				trimpath = trimpath || strings.Contains(in.args, "-trimpath")
				stripped = stripped || strings.Contains(in.args, "-s -w")
				server = server || strings.Contains(in.args, "./cmd/replicad")
			}
		}
	}
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{goImage, "a golang build stage"},
		{cgoOff, "CGO_ENABLED=0 (distroless/static runs static binaries only)"},
		{trimpath, "go build -trimpath"},
		{stripped, `go build -ldflags "-s -w"`},
		{server, "go build ./cmd/replicad"},
	} {
		if !c.ok {
			ps = append(ps, "no "+c.what)
		}
	}
	return ps
}

// dockerInputs are the manifests' facts the Dockerfile must agree with.
func dockerInputs(t *testing.T) (text, goVersion string, uid int64, ports []int32) {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t)
	for _, p := range b.container().Ports {
		ports = append(ports, p.ContainerPort)
	}
	return string(data), goDirective(t), deref(b.pod().SecurityContext.RunAsUser), ports
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	for _, p := range dockerfileProblems(dockerInputs(t)) {
		t.Errorf("%s: %s", dockerfile, p)
	}
	// The build context is the repository root: keep history and local
	// state out of it.
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf("the repository root needs a .dockerignore for deploy/Dockerfile's context: %v", err)
	}
	for _, want := range []string{".git", ".cache", ".data", "bin"} {
		if !slices.Contains(strings.Fields(string(data)), want) {
			t.Errorf("../.dockerignore does not exclude %s", want)
		}
	}
}

// TestDockerfileChecksCatchMistakes breaks a copy of the Dockerfile one way
// at a time.
func TestDockerfileChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	text, goVersion, uid, ports := dockerInputs(t)
	replace := func(old, new string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, new, 1) }
	}
	tests := []struct {
		name   string
		break_ func(string) string
		want   string
	}{
		{"shell in the final image", replace("FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12-slim"), "distroless"},
		{"root", replace("USER 65532:65532", "USER 0"), "non-root"},
		{"user by name", replace("USER 65532:65532", "USER nonroot"), "numeric"},
		{"uid the pod does not expect", replace("USER 65532:65532", "USER 1000"), "runAsUser"},
		{"RUN in the final stage", replace(`ENTRYPOINT ["/replicad"]`, "RUN [\"/replicad\", \"--help\"]\nENTRYPOINT [\"/replicad\"]"), "RUN"},
		{"cgo", replace("CGO_ENABLED=0", "CGO_ENABLED=1"), "CGO_ENABLED"},
		{"old Go", replace("FROM golang:1.26", "FROM golang:1.21"), "go directive"},
		{"one stage", func(s string) string {
			_, after, _ := strings.Cut(s, "FROM gcr.io/distroless")
			return "FROM gcr.io/distroless" + after
		}, "stages"},
		{"shell-form entrypoint", replace(`ENTRYPOINT ["/replicad"]`, "ENTRYPOINT /replicad"), "exec form"},
		{"port not exposed", replace("EXPOSE 9090 8080", "EXPOSE 9090"), "8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			broken := tt.break_(text)
			if broken == text {
				t.Fatal("the mutation changed nothing: the Dockerfile changed, update this test")
			}
			problems := dockerfileProblems(broken, goVersion, uid, ports)
			if !slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("no problem mentioning %q; problems: %q", tt.want, problems)
			}
		})
	}
}
