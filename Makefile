# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo train test bench bench-dashboard clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# The dashboard: start a federation in the browser, watch it, check fairness, diagnose an X-ray.
# Streamlit serves headless (.streamlit/config.toml) and prints the URL; where a display is
# there to show a browser, scripts/open_browser.py opens the page once the server answers.
PORT ?= 8501
HAS_DISPLAY := $(shell { [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; } && echo yes)
demo: $(VENV)/.installed
	$(if $(HAS_DISPLAY),$(PY) scripts/open_browser.py http://127.0.0.1:$(PORT) &)
	$(PY) -m streamlit run app.py --server.port $(PORT)

# The same federation from the command line, no browser.
train: $(VENV)/.installed
	$(PY) -m fedcore train

# The formatter and the linter first (ruff, configured in pyproject.toml), then every test: two
# at a time (most wait on a child process or a page) except the browser and Flower tests, which
# time what they watch and start whole deployments, one at a time after them.
SERIAL_TESTS := tests/browser tests/flower
test: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 $(addprefix --ignore=,$(SERIAL_TESTS))
	$(PY) -m pytest $(SERIAL_TESTS)

.PHONY: federation
# A SuperLink and three FedXray SuperNodes (each with its warm ClientApp executor) on
# 127.0.0.1 with TLS, one Flower run, then teardown, no process left (docs/flower.md). ROUNDS=3 SECURE=1 AUTH=1 MAX_PER_HOSPITAL=... are passed through.
federation: $(VENV)/.installed
	PY=$(PY) scripts/federation.sh

.PHONY: federation-lab
# The same federation with the SuperLink and each hospital site in its own network namespace,
# each site through a proxy that makes a wide-area link (40 ms one way, 10 ms jitter,
# 50 Mbit/s): seconds per round against in-process and the link's floor, metrics checked
# bit for bit, then nothing left (docs/flower.md). Needs root. ROUNDS, SEED, MAX_PER_HOSPITAL,
# DELAY_MS, JITTER_MS, MBIT, KEEP=1 are passed through.
federation-lab: $(VENV)/.installed
	PY=$(PY) scripts/federation-lab.sh

bench: $(VENV)/.installed
	$(PY) -m fedcore bench

bench-dashboard: $(VENV)/.dev-installed
	$(PY) benchmarks/dashboard_bench.py

clean:
	rm -rf $(VENV) runs .pytest_cache test-artifacts
