# FaaS platform. `make dev` runs it; `make test` passes the tests (both bring up what they need).
SHELL := /bin/bash
.DEFAULT_GOAL := help
TSX := node --import tsx
NPM_STAMP := node_modules/.package-lock.json
PRISMA_CLIENT := src/generated/prisma/client.ts
# The web dashboard (dashboard/, Vite + React) built into dist/dashboard, which the controller
# serves at / and /ui; rebuilt only when a file under dashboard/ changed.
DASHBOARD_BUILD := dist/dashboard/index.html
# The dashboard also bundles src/lib/json-check.ts and invocation-order.ts (shared with the faas CLI).
DASHBOARD_SOURCES := $(shell find dashboard -type f 2>/dev/null) src/lib/json-check.ts src/lib/invocation-order.ts

.PHONY: help install generate services docker-up docker-down migrate-up build-runtime-images \
        run-controller run-worker dev test test-unit bench fmt lint typecheck build platform-image clean \
        dashboard cli redrive-dead-letters queue-stats codegen mutation chaos runsc rotate-secrets gc backup restore

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NPM_STAMP) ## install npm dependencies

$(PRISMA_CLIENT): $(NPM_STAMP) prisma/schema.prisma
	node scripts/prisma-generate.mjs

generate: $(PRISMA_CLIENT) ## generate the Prisma client (offline)

$(DASHBOARD_BUILD): $(NPM_STAMP) $(DASHBOARD_SOURCES)
	npx vite build --config dashboard/vite.config.ts --logLevel warn
	@touch $@

dashboard: $(DASHBOARD_BUILD) ## build the web dashboard into dist/dashboard (served at / and /ui)

services: ## install (as root) and start PostgreSQL, Redis and the Docker engine on this machine
	bash scripts/services.sh up

docker-up: ## start PostgreSQL and Redis (docker compose where images can be pulled, else local services)
	bash scripts/compose-services.sh up

docker-down: ## stop what docker-up started
	bash scripts/compose-services.sh down

runsc: ## install gVisor and register it with Docker as runtime "runsc" (WORKER_OCI_RUNTIME=runsc)
	bash scripts/runsc.sh

migrate-up: generate ## create the database if needed and apply migrations
	$(TSX) src/main.ts migrate

build-runtime-images: ## build the function runtime images (base image from Debian packages when no registry)
	bash scripts/build-runtime-images.sh

run-controller: build ## HTTP server: REST, GraphQL (/graphql), /health, the dashboard (the built JavaScript)
	node dist/main.js controller

run-worker: build ## worker: runs queued invocations (the built JavaScript)
	node dist/main.js worker

dev: install ## everything on one machine: services, migrations, images, controller + worker
	bash scripts/services.sh up
	$(MAKE) --no-print-directory generate
	-bash scripts/build-runtime-images.sh || echo "runtime images not built: the worker will fall back to processes"
	$(MAKE) --no-print-directory build
	node dist/main.js dev

test: install ## type-check, lint, then the whole suite against real PostgreSQL, Redis, Docker and Chromium
	SERVICES_WITH_CHROMIUM=1 bash scripts/services.sh up
	bash scripts/runsc.sh
	$(MAKE) --no-print-directory generate
	$(MAKE) --no-print-directory dashboard
	bash scripts/build-runtime-images.sh
	npx tsc --noEmit -p .
	npx tsc --noEmit -p dashboard
	npx biome check .
	@mkdir -p .tmp
	@status=0; npx vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json || status=$$?; \
	  node -e 'const r = require("./.tmp/vitest.json"); console.log(`$${r.numPassedTests} passed, $${r.numFailedTests} failed, $${r.numPendingTests + r.numTodoTests} skipped`)' || true; \
	  exit $$status

test-unit: generate ## only the unit tests (no services needed)
	npx vitest run test/unit

mutation: generate dashboard ## mutation testing (StrykerJS) of the promise modules; one module: FILES="src/x.ts" [TESTS="test/unit/x.test.ts"]
	bash scripts/services.sh up
	bash scripts/build-runtime-images.sh
	@rm -f reports/mutation/mutation.json
	MUTATE_FILES="$(FILES)" MUTATE_TESTS="$(TESTS)" npx stryker run stryker.config.mjs $(STRYKER_ARGS)
	@node scripts/mutation-summary.mjs reports/mutation/mutation.json

chaos: install ## fault injection on private PostgreSQL/Redis: CHAOS_N invocations (default 2000); prints one line
	bash scripts/services.sh up
	$(MAKE) --no-print-directory generate
	$(TSX) chaos/chaos.ts

# PostgreSQL and Redis over their Unix sockets when both exist (README, Configuration):
# what a one-machine deployment should use. The bench prints which it used.
# (A shell test at run time: services.sh, the recipe's first line, makes the Redis socket.)
BENCH_SOCKETS = env $$([ -S /var/run/postgresql/.s.PGSQL.5432 ] && [ -S /var/run/faas-redis/redis.sock ] && \
	echo TEST_REDIS_ADDR=/var/run/faas-redis/redis.sock \
	TEST_DATABASE_URL=postgresql://postgres:postgres@localhost:5432/postgres?host=/var/run/postgresql)

bench: install ## throughput and latency figures (needs services and images)
	bash scripts/services.sh up
	bash scripts/runsc.sh
	$(MAKE) --no-print-directory generate
	bash scripts/build-runtime-images.sh
	python3 bench/machine-profile.py
	$(BENCH_SOCKETS) $(TSX) bench/invocation-bench.ts
	$(BENCH_SOCKETS) $(TSX) bench/process-runtime-bench.ts
	$(BENCH_SOCKETS) $(TSX) bench/api-bench.ts

redrive-dead-letters: generate ## move dead letters back to the queue (their invocations become pending)
	$(TSX) src/main.ts redrive-dead-letters

queue-stats: generate ## queued / processing / delayed / dead-letter counts
	$(TSX) src/main.ts queue-stats

cli: install ## the faas command line: ARGS="invoke hello --data '{}'" (alone: its help; also npx faas, node bin/faas.mjs)
	@node bin/faas.mjs $(or $(ARGS),--help)

api-key: generate ## API keys: ARGS="create --name ci --role admin" (key on the last line; with make -s), "list", "revoke ID|NAME"
	@$(TSX) src/main.ts api-key $(ARGS)

rotate-secrets: generate ## re-encrypt every function's environment with SECRETS_KEY (old keys in SECRETS_KEY_PREVIOUS)
	$(TSX) src/main.ts rotate-secrets

gc: generate ## delete invocations past INVOCATION_RETENTION and unreferenced stored code, once
	$(TSX) src/main.ts gc

backup: ## pg_dump of the database + archive of stored code into backups/faas-<UTC time>/ (not SECRETS_KEY)
	bash scripts/backup.sh

restore: ## restore a backup: BACKUP=backups/faas-... (into an empty database, or FORCE=1 to replace)
	bash scripts/restore.sh "$(BACKUP)"

codegen: generate ## print schema.graphql and the typed documents of the tests and the dashboard (a test checks they are current)
	npx graphql-codegen --config codegen.ts

fmt: install ## format and fix lint issues
	npx biome check --write .

lint: install ## check formatting and lint rules
	npx biome check .

typecheck: generate ## TypeScript, strict (the platform, and the dashboard with the browser's types)
	npx tsc --noEmit -p .
	npx tsc --noEmit -p dashboard

build: typecheck dashboard ## compile src/ to dist/ (run with node dist/main.js controller|worker|dev|migrate|…), build the dashboard
	rm -rf $(filter-out dist/dashboard,$(wildcard dist/*))
	npx tsc -p tsconfig.build.json --noEmitOnError

platform-image: generate ## the platform's image faas-platform:<runtimes/VERSION> (Dockerfile; base from debootstrap)
	bash scripts/build-platform-image.sh

clean: ## remove generated code, build output and local storage
	rm -rf src/generated dist storage .tmp
