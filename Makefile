# The two commands of the README: `make up` (a cluster) and `make test`.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
BIN := bin/hardway
NAME ?= hardway
GOFLAGS_BUILD := -trimpath

.PHONY: all build setup up down test unit e2e vet clean

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
	go vet ./...
	go vet -tags integration,e2e ./...

unit:
	go test ./...

# Everything CI runs: unit tests, then the integration and end-to-end tests
# against real artifacts, a real node image and real clusters.
test: setup vet unit e2e

e2e: build
	go test -tags integration,e2e -count=1 -timeout 80m -v ./test/e2e/... 2>&1 | tee /tmp/hardway-e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; exit $${PIPESTATUS[0]}

clean:
	rm -rf bin
