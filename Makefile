# Storeboard: `make run` shows the dashboard, `make test` runs every test (README.md).

PYTHON  ?= python3.11
VENV    := .venv
PY      := $(VENV)/bin/python
# Reinstall only when a requirements file changes (the stamp lives inside the venv).
STAMP   := $(VENV)/.requirements-installed
DB      := $(or $(STOREBOARD_DB),data/warehouse.duckdb)

.PHONY: venv run chromium test bench demo clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Serve the app on http://127.0.0.1:8501 (settings in .streamlit/config.toml); on a machine
# without a warehouse, build the demo one first.
run: venv
	test -f "$(DB)" || $(PY) -m data.demo
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true

# Headless Chromium from the OS packages, for the browser tests (never `playwright install`).
chromium:
	@if [ -x /usr/bin/chromium ]; then \
	  echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
	  echo "note: /usr/bin/chromium missing and cannot apt-get install it (needs root and apt); browser tests will skip"; \
	fi

test: venv chromium
	$(PY) -m pytest -q

bench: venv
	$(PY) -m bench

demo: venv
	$(PY) -m data.demo

clean:
	rm -rf artifacts bench/out .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
