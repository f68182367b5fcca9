# The two commands of the README, plus a few conveniences.
SHELL := /bin/bash
STACK ?= demo

.PHONY: demo test test-fast lab bootstrap lint render

# Main job: bootstrap, then `pulumi up` of the demo stack (local delivery into out/demo).
demo: bootstrap
	source .tools/env.sh && export PULUMI_CONFIG_PASSPHRASE=demo && \
	  (pulumi stack select demo 2>/dev/null || pulumi stack init demo) && \
	  pulumi up --yes --stack demo

# Tests: installs what they need (Debian packages, venv, engine), then runs everything.
test:
	tools/run-tests

test-fast:
	tools/run-tests -m "not slow"

# The lab: real hosts in network namespaces, configured by `pulumi up` over SSH (root).
lab:
	lab/run

bootstrap:
	tools/bootstrap.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

render:
	.venv/bin/uniform render stacks/$(STACK) out/render-$(STACK)
