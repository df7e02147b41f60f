# Everything runs from a virtualenv that these targets create: a fresh machine
# needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench bench-quick profile clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,fast]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bulkupdate demo

lint: $(STAMP)
	$(BIN)/ruff check bulkupdate tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy bulkupdate

test: lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

profile: $(STAMP)
	$(BIN)/python benchmarks/profile_client.py

clean:
	rm -rf $(VENV) demo runs .pytest_cache .ruff_cache .mypy_cache
