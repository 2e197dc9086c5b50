# The two commands of the README: `make up` (a cluster) and `make test`.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
BIN := bin/hardway
NAME ?= hardway
# One artifact cache for the CLI and every test, so binaries are built once.
export HARDWAY_CACHE ?= $(HOME)/.cache/hardway
# -buildvcs=auto: `hardway version` names the commit (some machines set
# GOFLAGS=-buildvcs=false).
GOFLAGS_BUILD := -trimpath -buildvcs=auto

.PHONY: all build setup up down test unit fuzz browser integration e2e vet clean

all: build

build:
	go build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/hardway

setup:
	./hack/setup-host.sh

# A whole cluster from a fresh machine: host packages, artifacts (built from
# source when no release site is reachable), node image, then every step.
up: setup build
	$(BIN) artifacts build
	$(BIN) node-image build
	$(BIN) up --name $(NAME)
	@echo "kubectl: export KUBECONFIG=$$($(BIN) kubeconfig --name $(NAME) | tail -1)"

down: build
	$(BIN) down --name $(NAME)

vet:
	@unformatted=$$(gofmt -l cmd internal test); if [ -n "$$unformatted" ]; then echo "gofmt needed (run: gofmt -w $$unformatted)"; exit 1; fi
	go vet ./...
	go vet -tags integration,e2e ./...
	go vet -tags browser ./...
	# The Mac's binary: built here (never run here), so a Linux-only call fails CI.
	GOOS=darwin GOARCH=arm64 go build -o /dev/null ./cmd/hardway

unit:
	go test ./...

# A bounded fuzz run of the config loader and the command line (the corpus
# of each is committed under testdata/fuzz/): no panic, every problem one line.
FUZZTIME ?= 30s
fuzz:
	go test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s -parallel=2 ./internal/config/
	go test -run='^$$' -fuzz=FuzzCLI -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s -parallel=2 ./internal/cli/

# The tutorial book in headless Chromium (setup installs it), served from
# memory: no cluster needed.
browser:
	go test -tags browser -count=1 -timeout 10m -run 'TestCheck$$|InBrowser' ./internal/browsercheck/ ./internal/cli/

# Everything CI runs: unit and browser tests, then integration tests against real
# artifacts (built from source into the shared cache; cold ~15 min) and a real
# node image, then the end-to-end tests on real clusters.
test: setup vet unit fuzz browser integration e2e

# The artifacts first: the provider's test runs containerd and runc from the
# cache they fill (one go test would run both packages at once). Last, the
# air-gapped bundle: that cache and the node image exported, imported into an
# empty cache, listed.
integration:
	HARDWAY_IT_CACHE=$(HARDWAY_CACHE) go test -tags integration -count=1 -timeout 60m -v ./internal/artifacts/
	go test -tags integration -count=1 -timeout 20m -v ./internal/provider/docker/
	HARDWAY_IT_CACHE=$(HARDWAY_CACHE) go test -tags integration -count=1 -timeout 20m -v -run Bundle ./internal/cli/

e2e:
	go test -tags e2e -count=1 -timeout 85m -v ./test/e2e/

clean:
	rm -rf bin
