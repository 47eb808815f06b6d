# Quick start: `make demo` then `make test`. Both create .venv when it is missing or pyproject.toml changed.
PYTHON ?= python3.11
VENV   := .venv
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: demo test test-fast lint docs clean dry-run bench

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11+) on PATH, or set PYTHON=..."; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

dry-run: $(STAMP)
	$(VENV)/bin/snakemake -n

# The tests include `benchmarks/run.py --smoke` (tests/test_benchmarks.py): every benchmark on a few small inputs,
# against the reference tools of `.[bench]`; timing targets are checked by `make bench` only.
test: $(STAMP)
	$(VENV)/bin/python -m pytest

# The in-process tests only (stage functions on tiny fixtures, properties): no Snakemake or CLI subprocesses, no
# demo run, no SLURM, Chromium or S3 server (markers in pyproject.toml), no DICOM fuzzing.
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not system and not e2e and not slow"

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

# Full sizes; writes benchmarks/results/<date>-<git sha>.json, the file the README's Performance table cites.
bench: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[bench]'
	$(VENV)/bin/python benchmarks/run.py

clean:
	rm -rf results .snakemake site
