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

.PHONY: serve test setup

serve: $(INSTALLED)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: $(INSTALLED)
	$(BIN)/pytest

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable .
	touch $@
