# Two commands for a new user: `make run` (the default workflow) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= all

.PHONY: run test lint install offline-data report clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test,mnist5k,slurm]"
	touch $@

install: $(VENV)/.installed

# Full Fashion-MNIST from Debian's package when this machine has apt and we are root;
# elsewhere the workflow downloads it (checksummed) through torchvision.
offline-data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -qq dataset-fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)) >/dev/null \
		|| echo "note: could not install dataset-fashion-mnist; the workflow will try a download"; \
	fi

run: install offline-data
	$(VENV)/bin/snakemake --cores $(CORES)

test: install offline-data
	$(PY) -m pytest

# Linter and formatters: ruff for Python, snakefmt for the workflow (settings in pyproject.toml).
lint: install
	$(VENV)/bin/ruff check src scripts tests benchmarks
	$(VENV)/bin/ruff format --check src scripts tests benchmarks
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules

report: install
	$(VENV)/bin/snakemake --report report.html

clean:
	rm -rf results .snakemake report.html
