# Red de Atención IVR. `make run` and `make test` work on a fresh machine with Python 3.11 and a
# C compiler: they create .venv and install the pinned requirements when those change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

.PHONY: run test lint bench browser softphone faults nginx clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP) softphone
	RED_ENV=development $(BIN)/flask --app app db upgrade
	RED_ENV=development $(BIN)/flask --app app seed demo --if-empty
	RED_ENV=development PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: $(STAMP) browser softphone nginx
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# bench.line's default staircase (500 to 5,000 calls) takes about ten minutes: make bench runs
# one size of it (`make bench BENCH_LINE_ARGS=` for the whole staircase).
BENCH_LINE_ARGS ?= --calls 1000 --duration 20
bench: $(STAMP)
	@for b in bench/[a-z]*.py; do m=$$(basename $$b .py); \
	  a=$$(test $$m = line && echo "$(BENCH_LINE_ARGS)"); \
	  echo "== bench.$$m $$a"; $(BIN)/python -m bench.$$m $$a || exit 1; done

# The fault suite (faults/__main__.py): the service under gunicorn with its own Redis and a
# database of its own on this machine's PostgreSQL, through real faults; about 2 minutes.
faults: $(STAMP)
	$(BIN)/python -m faults

# The agent console's softphone: the Twilio Voice JavaScript SDK from npm (package-lock.json),
# copied into the app's static files (never a CDN at run time).
SOFTPHONE := console/static/vendor/twilio.min.js
softphone: $(SOFTPHONE)
$(SOFTPHONE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Debian's npm package for the console's softphone"; exit 1; }
	npm ci --no-audit --no-fund --silent
	@mkdir -p $(dir $@)
	cp node_modules/@twilio/voice-sdk/dist/twilio.min.js $@

# Web pages are tested in Debian's Chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	  else echo "chromium is missing: install Debian's chromium package for the browser tests"; fi; }

# Two web nodes are tested behind Debian's nginx (tests/deploy/test_nginx.py).
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's nginx for the reverse-proxy test"; \
	    (apt-get install -y -qq nginx >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq nginx >/dev/null)); \
	  else echo "nginx is missing: install Debian's nginx package for the reverse-proxy test"; fi; }

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache node_modules $(SOFTPHONE)
