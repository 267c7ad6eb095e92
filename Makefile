# replicad — see README.md. `make run` and `make test` are the two commands a
# newcomer needs; everything else is here for those two and for CI.

GO       ?= go
BUF      := $(GO) tool -modfile=tools/go.mod buf
LINT     := $(GO) tool -modfile=tools/go.mod golangci-lint
# Fuzzing budgets are counts of executions, not durations: Go 1.26's fuzz
# coordinator can report a duration's expiry as a failure ("context deadline
# exceeded", golang/go#75804, fixed in 1.27). About 20 s each on idle cores.
FUZZ_VALIDATE_EXECS ?= 150000x
FUZZ_REST_EXECS ?= 15000x
# VERSION is what --version and replicad_build_info report.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X github.com/replicad/replicad/internal/buildinfo.version=$(VERSION)

.PHONY: all run test deps check generate lint fmt vet fuzz build bench bench-smoke clean screenshots console-load measure

all: build

## run: local PostgreSQL (under .data/), the Secrets Manager stand-in with demo secrets, and replicad
## (make run HTTP_ADDR=127.0.0.1:8081 GRPC_ADDR=127.0.0.1:9091 STANDIN_ADDR=127.0.0.1:4567 to move them)
HTTP_ADDR    ?= 127.0.0.1:8080
GRPC_ADDR    ?= 127.0.0.1:9090
STANDIN_ADDR ?= 127.0.0.1:4566
# devstack is built and run, not `go run`: go run exits 1 after an
# interrupt whatever its child did, and Ctrl-C would end in "Error 1".
run: deps build
	$(GO) build -o .cache/devstack ./internal/cmd/devstack
	.cache/devstack -http-addr '$(HTTP_ADDR)' -grpc-addr '$(GRPC_ADDR)' -standin-addr '$(STANDIN_ADDR)'

## test: every check and test, as CI runs them
test: deps check
	$(GO) test -race -count=1 -timeout 14m ./...
	$(MAKE) --no-print-directory fuzz

## deps: install what the build and tests need on a fresh Debian machine (idempotent)
deps:
	@scripts/deps.sh

## build: the binaries, into bin/
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

## bench: every benchmark case against the built binaries and a private, durable PostgreSQL
## (about 18 minutes on 2 otherwise idle cores: the budget-paced cases 4, 8, 9 and 10, whose length their
## budgets fix, run side by side after the others, 9 minutes each part; -paced-apart runs them one after
## another, about 25 minutes);
## writes docs/BENCHMARKS.md, docs/benchmarks.json and docs/profiles/.
## The analysis in docs/BENCHMARKS.md is hand-written in docs/BENCHMARKS.notes.md.
bench: deps build
	$(GO) run ./internal/cmd/bench -out docs

## bench-smoke: every benchmark case at a tiny size (also part of make test)
bench-smoke:
	$(GO) test -count=1 -run '^TestSmoke$$' ./internal/bench

## screenshots: a screenshot of every console page (laptop and narrow widths) into screenshots/ (git-ignored)
screenshots: deps
	REPLICAD_SCREENSHOTS=$(CURDIR)/screenshots $(GO) test -count=1 -run '^TestScreenshots$$' -v ./internal/console

## console-load: the console's load time in headless Chromium with 10,000 secrets in the inventory (p50/p95, with and without the browser cache; LOAD_RUNS loads each)
LOAD_RUNS ?= 20
console-load: deps
	REPLICAD_LOAD_RUNS=$(LOAD_RUNS) $(GO) test -count=1 -run '^TestConsoleLoadTime$$' -v ./internal/console

## measure: the latency tests whose timing targets are judged only here, on a machine left to them
## (interactive requests during a 5,000-secret policy backlog; the console's load time is make console-load)
measure: deps
	REPLICAD_MEASURE=1 $(GO) test -count=1 -run '^TestInteractiveNotStarvedByReconciliationBacklog$$' -v ./internal/policytest

## fuzz: short, bounded fuzzing of request validation and REST decoding
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzValidate$$' -fuzztime=$(FUZZ_VALIDATE_EXECS) ./internal/validate
	$(GO) test -run='^$$' -fuzz='^FuzzREST$$' -fuzztime=$(FUZZ_REST_EXECS) ./server

## check: formatting, vet, buf lint, and generated code matching the protos
check: fmt vet lint
	@$(MAKE) --no-print-directory generate
	@git diff --exit-code --stat -- gen || { echo "gen/ is out of date: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- gen)" || { echo "untracked generated files in gen/: run 'make generate' and commit"; exit 1; }

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }

vet:
	$(GO) vet ./...

## lint: golangci-lint (.golangci.yml: staticcheck, the layering rules, ...) and buf lint
# --allow-serial-runners: a second lint on the machine (another checkout, an
# editor) waits for the first instead of failing the run.
lint: protodeps
	$(LINT) run --allow-serial-runners ./...
	$(BUF) lint

## generate: regenerate gen/ from proto/ with the pinned plugins
generate: protodeps
	$(BUF) generate

protodeps:
	@scripts/protodeps.sh

clean:
	rm -rf bin .cache
