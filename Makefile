# ws: see README.md. `make test` is what CI runs (through .ci/run).
SHELL  := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/ws-tools/ws/cmd/app.version=$(VERSION)
# Root installs for every user; anyone else into ~/.local/bin.
PREFIX  ?= $(if $(filter 0,$(shell id -u)),/usr/local,$(HOME)/.local)

.PHONY: build install test test-unit test-e2e bench lint fmt-check fuzz demo demo-down clean

# ws-sops is ws's decryption helper (sops and its cloud KMS SDKs live
# there, off ws's own start-up); ws finds it beside itself.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ws ./cmd/ws
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ws-sops ./cmd/ws-sops

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 bin/ws $(DESTDIR)$(PREFIX)/bin/ws
	install -m 0755 bin/ws-sops $(DESTDIR)$(PREFIX)/bin/ws-sops

# Unit tests, then the end-to-end tests against a real Docker engine. The
# e2e part skips what this machine lacks unless WS_E2E_REQUIRE=1 (CI).
test: test-unit test-e2e

test-unit:
	$(GO) test -count=1 ./...

test-e2e:
	$(GO) test -count=1 -tags e2e -v -timeout 30m ./cmd/e2e 2>&1 | tee .e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|e2e setup|panic)|_test.go' ; \
		status=$${PIPESTATUS[0]}; \
		if [ $$status -ne 0 ]; then echo "--- e2e failed; last lines of .e2e.log:"; tail -n 150 .e2e.log; fi; \
		exit $$status

# Benchmarks print each figure beside its baseline measured in the same run,
# and their ratio (see README). The e2e ones need Docker, like make test-e2e.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) test -tags e2e -run '^$$' -bench . -benchtime 3x -timeout 60m ./cmd/e2e

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./images/lock

lint: fmt-check
	$(GO) vet ./...
	$(GO) vet -tags e2e ./cmd/e2e/...
	@if command -v golangci-lint >/dev/null; then golangci-lint run ./...; \
		else echo "golangci-lint not installed: ran gofmt and go vet only"; fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# An offline demo: local registry + base image, artifact server, GPG agent
# with the throwaway key, and a workspace in .demo/workspace.
demo: build
	$(GO) build -o bin/wsdemo ./cmd/e2e/wsdemo
	bin/wsdemo up

demo-down:
	@if [ -x bin/wsdemo ]; then bin/wsdemo down; else $(GO) run ./cmd/e2e/wsdemo down; fi

clean:
	rm -rf bin .e2e.log
