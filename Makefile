# authmesh — every target installs what it needs from package-lock.json first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

DEPS := node_modules/.authmesh-installed
BIN := node_modules/.bin
MOCHA_ARGS ?=

.PHONY: jaeger help install build proto proto-check proto-breaking lint test test-unit run-mesh bench bench-store chaos clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(DEPS): package.json package-lock.json client/package.json verifier/package.json
	npm_config_build_from_source=true npm ci --no-audit --no-fund
	@touch $@

install: $(DEPS) ## install dependencies (npm ci) when missing or stale

build: $(DEPS) ## compile TypeScript: the @authmesh/client and @authmesh/verifier packages (client/dist, verifier/dist, with types), then dist/
	$(BIN)/tsc -p client/tsconfig.json
	$(BIN)/tsc -p verifier/tsconfig.json
	$(BIN)/tsc -p tsconfig.json

proto: $(DEPS) ## lint the protos and regenerate gen/ with ts-proto
	$(BIN)/buf lint
	$(BIN)/buf generate

proto-check: $(DEPS) ## fail when gen/ is not what `make proto` would write
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(BIN)/buf generate -o "$$tmp" && \
	  if ! diff -r gen "$$tmp/gen" >/dev/null; then \
	    echo "gen/ is stale: run 'make proto' and commit the result"; diff -r gen "$$tmp/gen" | head -20; exit 1; \
	  fi
	@echo "gen/ is up to date"

proto-breaking: $(DEPS) ## buf breaking against the latest v* release tag (the committed proto/releases image when the clone has no tag)
	@tag=$$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null); \
	if [ -n "$$tag" ]; then \
	  echo "buf breaking against git tag $$tag"; \
	  $(BIN)/buf breaking --against ".git#tag=$$tag"; \
	else \
	  image=$$(ls proto/releases/v*.binpb 2>/dev/null | sort -V | tail -n 1); \
	  if [ -z "$$image" ]; then echo "buf breaking: no v* tag and no proto/releases/v*.binpb to compare against"; exit 1; fi; \
	  echo "buf breaking against $$image (no v* tag in this clone)"; \
	  $(BIN)/buf breaking --against "$$image"; \
	fi

lint: $(DEPS) ## buf lint, buf breaking, generated-code check, ESLint
	$(BIN)/buf lint
	@$(MAKE) --no-print-directory proto-breaking
	@$(MAKE) --no-print-directory proto-check
	$(BIN)/eslint --max-warnings 0 .

test: lint build ## lint, build, then every test (unit, integration, system)
	@scripts/test-setup.sh
	$(BIN)/mocha 'dist/test/**/*.test.js' $(MOCHA_ARGS)

chaos: build ## full chaos suite, overload and durability on real processes (under 10 minutes); table in .mesh/chaos-report.json
	AUTHMESH_CHAOS=full AUTHMESH_CHAOS_REPORT=$(CURDIR)/.mesh/chaos-report.json $(BIN)/mocha 'dist/test/chaos/*.test.js' $(MOCHA_ARGS)

test-unit: build ## unit tests only
	$(BIN)/mocha 'dist/test/unit/**/*.test.js'

run-mesh: build ## run the whole mesh locally in the foreground (Ctrl-C stops it), with a Prometheus on 127.0.0.1:9090 when the prometheus binary is installed; STORE=postgres: PostgreSQL primary + standby, global-1 and global-2
	AUTHMESH_MESH_STORE=$(STORE) node dist/scripts/run-mesh.js

bench: build ## benchmarks beside the anchors: bench/results/latest.json, docs/benchmarks.md, SVG plots (about 17 minutes)
	node dist/bench/main.js

bench-store: build ## the global store section alone, SQLite and PostgreSQL side by side: bench/results/store.json (about 30 s)
	node dist/bench/main.js --store-only

jaeger: ## start Jaeger all-in-one in Docker (UI 127.0.0.1:16686, OTLP 127.0.0.1:4317/4318) for make run-mesh
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
	  echo "make jaeger: no Docker engine answers here ('docker info' failed)."; \
	  echo "Without Docker, 'make run-mesh' keeps the last traces itself: run 'npx authmesh traces'."; \
	  exit 1; \
	fi
	@docker rm -f authmesh-jaeger >/dev/null 2>&1 || true
	docker run -d --name authmesh-jaeger \
	  -p 127.0.0.1:16686:16686 -p 127.0.0.1:4317:4317 -p 127.0.0.1:4318:4318 \
	  jaegertracing/all-in-one:1.62.0
	@echo "Jaeger UI: http://127.0.0.1:16686 — now 'make run-mesh' sends its spans there ('docker rm -f authmesh-jaeger' stops it)"

clean: ## remove build output and the local mesh's state
	rm -rf dist client/dist verifier/dist .mesh
