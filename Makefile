# `make run` and `make test` work on a fresh Debian machine as root: they install what they need.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
APT_UPDATED := /tmp/.ouderkamer-apt-updated
export FLASK_APP := wsgi

.PHONY: run test install install-test system-packages translations lint clean bench static

# Debian packages: ffmpeg always, npm for front-end packages, python3-venv where venv is missing.
system-packages:
	@missing=""; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	python3 -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  [ -f $(APT_UPDATED) ] || { apt-get update -qq && touch $(APT_UPDATED); }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.requirements-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@ $(VENV)/.requirements

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Front-end files from the npm registry, served as static files (no bundler).
# hls.light.min.js is what the player loads (no subtitles/DRM/alternate-audio code); hls.min.js stays for old pages.
static/vendor/hls.min.js: node_modules/.package-lock.json
	mkdir -p static/vendor
	cp node_modules/hls.js/dist/hls.min.js node_modules/hls.js/dist/hls.light.min.js node_modules/axe-core/axe.min.js \
	  static/vendor/

# Static files gzipped once at install (<file>.gz beside each; core/static.py serves them, or compresses on first use).
static: static/vendor/hls.min.js $(VENV)/.requirements
	$(BIN)/python -m core.static static >/dev/null

translations: $(VENV)/.requirements
	$(BIN)/pybabel compile -d translations

install: system-packages $(VENV)/.requirements node_modules/.package-lock.json static/vendor/hls.min.js static translations

install-test: install $(VENV)/.requirements-test
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian chromium for browser tests"; \
	  [ -f $(APT_UPDATED) ] || { apt-get update -qq && touch $(APT_UPDATED); }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

run: install
	$(BIN)/flask db upgrade
	@$(BIN)/flask demo --if-empty
	@echo "Open http://$(HOST):$(PORT)/  (stop with Ctrl-C)"
	HOST=$(HOST) $(BIN)/honcho start -f Procfile -p $(PORT)

lint: $(VENV)/.requirements-test
	$(BIN)/ruff check .

# One pytest process per core (pytest-xdist); each test file runs whole in one process. TEST_WORKERS=0: one process.
TEST_WORKERS ?= auto
test: install-test lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Benchmarks (docs/performance.md): PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379, as for the tests.
bench: install-test
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules
