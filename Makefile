# The README's two commands: `make run` and `make test`. Each creates .venv/ and installs
# what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test install browser services axe index lint bench bench-profile clean screenshots

run: install
	$(PY) app.py

# The suite in parallel processes (pytest-xdist), one per core up to 4: each builds its own
# session fixtures (model, index, servers) in its own temporary folders.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: install browser services axe
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, exactly the local CPU wheel, so nothing pulls the CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never
# downloads a browser of its own).
browser:
	@test -x /usr/bin/chromium || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }

# Debian's PostgreSQL and Redis for the tests of the shared store and limits: only installed
# here; tests/services.py starts private ones on free loopback ports in temp folders (as
# `nobody` when run as root) and stops them at the end. Nothing is enabled or left running.
services:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && test -x /usr/bin/redis-server; } || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q postgresql redis-server; \
		for s in postgresql redis-server; do $$SUDO service $$s stop >/dev/null 2>&1 || true; done; }

# axe-core (npm) for the chat's accessibility test; Playwright injects this file into the page.
AXE_VERSION := 4.14.1
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js
axe: $(AXE)

$(AXE):
	@command -v npm >/dev/null || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q npm; }
	npm install --prefix $(VENV)/axe --no-save --no-audit --no-fund axe-core@$(AXE_VERSION)

# The staff screenshots of the README (docs/screenshots/), re-taken by the library's browser
# test; a plain `make test` writes its screenshots to a temporary folder instead.
screenshots: install browser axe
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser/test_library_browser.py

index: install
	$(PY) -m chatbot ingest

lint: install
	$(VENV)/bin/ruff check chatbot tests bench app.py
	$(VENV)/bin/mypy chatbot

# Figures, not tests: each script prints its table and updates its section of bench/RESULTS.md.
bench: install index
	$(PY) bench/latency.py
	$(PY) bench/load.py
	$(PY) bench/coldstart.py

# Where an answer's time goes: py-spy's flame graph under load (bench/profile.svg) and what the
# review store costs an answer.
bench-profile: install index
	$(PY) bench/profile_served.py
	$(PY) bench/store_write.py

# Synthetic corpora of 10x, 100x and 1000x the articles: takes many minutes on 2 cores.
bench-scale: install
	$(PY) bench/scale.py

clean:
	rm -rf $(VENV) index/ .pytest_cache
