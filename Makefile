# Quick start: `make demo` then `make test`. Both create .venv when it is missing or pyproject.toml changed.
PYTHON ?= python3.11
VENV   := .venv
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: demo test lint docs clean dry-run bench

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11+) on PATH, or set PYTHON=..."; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

dry-run: $(STAMP)
	$(VENV)/bin/snakemake -n

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# The gates .ci/run applies before the tests: lint and format (ruff), the rules (snakefmt, snakemake --lint) and
# types (mypy).
lint: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[lint]'
	$(VENV)/bin/ruff check workflow tests benchmarks
	$(VENV)/bin/ruff format --check workflow tests benchmarks
	$(VENV)/bin/snakefmt --check Snakefile rules
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/mypy

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns every warning (a broken link, a page left
# out of the nav) into an error.
docs: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[docs]'
	$(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[bench]'
	$(VENV)/bin/python benchmarks/run.py

clean:
	rm -rf results .snakemake site
