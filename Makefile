# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: demo test setup lint lint-actions build release bench-tags image bench-image actions

CARGO ?= cargo

# Installs what is missing, then runs end-to-end scenarios 1 and 3 (see scripts/demo.sh).
demo:
	./scripts/demo.sh

# Afterwards: the checkout is as before (.ci/root-status) and the skipped tests are listed
# (a test skips only outside CI, when a tool it needs is missing; in CI it fails instead).
test: setup lint
	@mkdir -p target/tmp && rm -f target/tmp/skipped-tests
	./.ci/root-status save target/root-status.before
	$(CARGO) test --all-targets 2>&1
	$(CARGO) test --doc 2>&1
	./.ci/root-status check target/root-status.before
	@if [ -s target/tmp/skipped-tests ]; then \
	  echo "skipped $$(wc -l <target/tmp/skipped-tests) tests:"; sort target/tmp/skipped-tests; fi

setup:
	./.ci/setup

build:
	$(CARGO) build --release --bin deploy-action

lint: lint-actions
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

lint-actions:
	actionlint -shellcheck= -pyflakes= workflows/*.yml workflows/forgejo/*.yml .github/workflows/*.yml

bench-tags: build
	./scripts/bench-tags.sh

# An offline equivalent of the release image, loaded into the engine at DOCKER_HOST as
# deploy-action:dev (scripts/image.sh; BIN= another binary, IMAGE= another name).
image: build
	./scripts/image.sh

# Image size and layers, cold/warm action start in act against a JavaScript action (bench/image.sh).
bench-image: build
	./bench/image.sh

# Regenerates the sub-actions (<command>/action.yml) from the CLI definition; `make test`
# fails when one is stale (tests/it/sub_actions.rs).
actions:
	UPDATE_ACTIONS=1 $(CARGO) test --test it sub_actions::sub_actions_are_generated_from_the_cli
