# Everything runs from a virtualenv that these targets create: a fresh machine
# needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test test-stress lint typecheck bench bench-quick profile clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,fast,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bulkupdate demo

lint: $(STAMP)
	$(BIN)/ruff check bulkupdate tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy bulkupdate benchmarks

# Three workers on two cores: most of the suite waits on sockets and settle timers,
# not the CPU; the suite stays well under five minutes.
test: lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3

# The suite STRESS_RUNS times in a row with one core kept busy by another process;
# STRESS_ARGS go to pytest (default: the three workers of `make test`; e.g.
# STRESS_ARGS=tests/e2e/test_resilience.py repeats one file).
STRESS_RUNS ?= 20
STRESS_ARGS ?= -n 3
test-stress: $(STAMP)
	$(BIN)/python tests/stress.py --runs $(STRESS_RUNS) -- $(STRESS_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/two_nights.py
	$(BIN)/python benchmarks/interleaved.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

# The bench extras (py-spy) only where a profile is taken: `make test` never needs them.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

profile: $(BENCH_STAMP)
	$(BIN)/python benchmarks/profile_client.py

clean:
	rm -rf $(VENV) demo runs .pytest_cache .ruff_cache .mypy_cache
