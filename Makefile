# The commands a person runs. Everything the project needs is installed by these targets (see scripts/).
.PHONY: run test test-deps infra lint fmt schemas contract-test build bench-ingest bench-plan bench-dispatch bench-desk

run:            ## The whole system on sample data, with the SMS simulator, at http://127.0.0.1:8080
	bash scripts/run-demo.sh

test: infra test-deps  ## The whole test suite (unit, integration, end-to-end) on real PostgreSQL and NATS
	cargo test --workspace --all-targets --no-fail-fast

test-deps:      ## The certified OpenID provider the sign-in tests start (oidc-provider on Node.js), the AsyncAPI validator, Chromium; from lockfiles
	npm ci --no-audit --no-fund --prefix tests/oidc-provider
	npm ci --no-audit --no-fund --prefix tests/asyncapi
	bash scripts/browser-deps.sh
	npm ci --no-audit --no-fund --prefix tests/browser

infra:          ## Start (installing where missing) PostgreSQL and NATS JetStream for development
	bash scripts/dev-infra.sh

lint:           ## Formatting and clippy, as CI wants them
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

schemas:        ## Regenerate proto-schemas/events/ from the event types
	cargo run --quiet --bin recaudo -- schemas write

contract-test:  ## schemathesis over every operation of proto-schemas/openapi.yaml, against the system on sample data
	bash scripts/contract-test.sh

build:
	cargo build --workspace

bench-ingest:   ## Import 1,000,000 generated rows end to end beside psql \copy; prints ingest/copy rows per second
	bash scripts/bench-ingest.sh

bench-plan:     ## One planning day for 1,000,000 credits beside the set-based floor; prints plan/floor rates and peak RSS
	bash scripts/bench-plan.sh

bench-dispatch: ## 100,000 contact requests through the dispatcher and the simulators beside the floor; prints rates and peak RSS
	bash scripts/bench-dispatch.sh

bench-desk:     ## 20,000 clicks and replies onto 200 advisors' live streams beside the floor; timers with 100,000 open cases
	bash scripts/bench-desk.sh
