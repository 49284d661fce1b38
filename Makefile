# cardloop: a newcomer's two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
APT_LISTS := $(sort $(wildcard .ci/apt/*.txt))
NODE_STAMP := node_modules/.cardloop-installed

help:
	@echo "make demo    the full lifecycle on the embedded defaults"
	@echo "make test    install what is needed, then run every test"
	@echo "make bench   benchmarks (figures under bench/results/)"
	@echo "make setup   Debian packages, npm dependencies and the build (dist/)"

# Debian packages the tests and adapters need: one list per component in .ci/apt/.
setup-apt:
	@pkgs=$$(cat $(APT_LISTS) /dev/null | sed 's/#.*//' | xargs); \
	if [ -n "$$pkgs" ]; then \
	  missing=$$(for p in $$pkgs; do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done | xargs); \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	  fi; \
	fi

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The command runs from dist/ (bin/cardloop.js falls back to tsx while it is
# missing or stale). Rebuilt on every setup: it takes well under 2 s.
build: $(NODE_STAMP)
	node bin/build.js

setup: setup-apt $(NODE_STAMP) build

typecheck: $(NODE_STAMP)
	npx tsc --noEmit
	npx tsc --noEmit -p dashboard/page

test: setup typecheck
	npx ava

demo: setup
	node bin/cardloop.js demo

bench: setup
	@mkdir -p bench/results
	@for f in bench/*.bench.ts; do echo "== $$f"; node --import=tsx $$f || exit 1; done

.PHONY: help setup setup-apt build typecheck test demo bench
