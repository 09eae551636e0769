# The README's two commands: `make demo` and `make test`. Each does all the set-up it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOGDIR ?= runs/demo
PORT ?= 6006

.PHONY: setup demo test lint zoo realworld sweep browser frontend frontend-check proto clean

# --system-site-packages keeps a torch that is already installed; otherwise take the CPU build
# (an unpinned torch would pull gigabytes of CUDA packages).
$(STAMP): setup.py
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/tb-lossdiag demo $(LOGDIR) --port $(PORT) $(if $(NO_SERVE),--no-serve,)

# Debian's chromium drives the browser tests; no browser is downloaded.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

# ruff's pyflakes and syntax rules everywhere; mypy on the whole package.
lint: setup
	$(BIN)/ruff check --select F,E9 tb_lossdiag tests benchmarks examples
	$(BIN)/mypy --ignore-missing-imports --follow-imports=silent tb_lossdiag

test: setup browser frontend-check lint
	@$(BIN)/python -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests"; fi; exit $$rc
	$(MAKE) zoo
	$(BIN)/python benchmarks/healthy_sweep.py --quick

# The whole fault zoo: fails when an expected finding is missed or a healthy run is flagged.
zoo: setup
	$(BIN)/python benchmarks/detection.py --set zoo

# The held-out real-world set (public programs with their bugs): reports recall, false alarms, root causes.
realworld: setup
	$(BIN)/python benchmarks/detection.py --set realworld

# All 60 healthy configurations (300 to 20,000 steps): fails when one is flagged.
sweep: setup
	$(BIN)/python benchmarks/healthy_sweep.py

frontend:
	cd frontend && npm ci --no-audit --no-fund && npm run build

# Fails when the committed bundle in tb_lossdiag/plugin/static is not what frontend/ builds.
frontend-check:
	cd frontend && npm ci --no-audit --no-fund && npm run check

# event_pb2.py is generated with protoc 25 so that protobuf 3.20 and later can read it; event_pb2.pyi gives
# type checkers its messages.
proto:
	$(PYTHON) -m venv .venv-proto
	.venv-proto/bin/pip install -q grpcio-tools==1.62.3
	.venv-proto/bin/python -m grpc_tools.protoc -Itb_lossdiag/proto --python_out=tb_lossdiag/proto --pyi_out=tb_lossdiag/proto tb_lossdiag/proto/event.proto

clean:
	rm -rf $(VENV) .venv-proto frontend/node_modules runs build *.egg-info
