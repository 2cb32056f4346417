# Everyday targets. `make test` is the test command CI runs (see .ci/run).
GO       ?= go
BIN      ?= bin/hub
PKGS     ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 25m

.PHONY: build test lint vet staticcheck fmt-check demo bench ci clean

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/hub  # the commit in `hub version` even where GOFLAGS says -buildvcs=false

test:
	$(GO) test $(TESTFLAGS) $(PKGS)

vet:
	$(GO) vet $(PKGS)

# staticcheck is pinned in go.mod's tool block (go get -tool honnef.co/go/tools/cmd/staticcheck@v0.8.2).
staticcheck:
	$(GO) tool staticcheck $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: fmt-check vet staticcheck

demo:
	$(GO) run ./cmd/hub run -c configs/demo.yaml

# Go benchmarks of the hot paths; end-to-end figures come from `hub bench` (docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

ci:
	bash .ci/run

clean:
	rm -rf bin data
