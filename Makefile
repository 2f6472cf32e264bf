# The README's two commands: `make serve` (the course site) and `make test` (every test).
# Both create .venv and install the project on first use, and again when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# CI grades the labs at a smaller time scale: every timing rule stays in force (see grader/scale.py).
COURSE_TIME_SCALE ?= 0.25
export COURSE_TIME_SCALE
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve test setup chromium

serve: $(INSTALLED)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: $(INSTALLED)
	$(BIN)/pytest tests examples

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable .
	@command -v chromium >/dev/null || $(MAKE) --no-print-directory chromium
	touch $@

# A real browser for Lab 2's CORS check and the site's tests: Debian's chromium package, installed
# where we may (as root, with apt-get: CI does). Elsewhere those checks fall back and say so.
chromium:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
			|| echo "Note: could not install chromium: browser checks will fall back."; \
	else \
		echo "Note: no chromium. Install it (Debian: sudo apt-get install chromium) for browser checks."; \
	fi
