# The two set-up commands: `make demo` and `make test`. Each creates .venv if missing.
VENV := .venv
STAMP := $(VENV)/.mlxmed-installed

.PHONY: demo test test-fast lint install clean

demo: $(STAMP)
	$(VENV)/bin/mlxmed demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# Skip the slow end-to-end tests on the bundled model (CI runs everything).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check mlxmed tests

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
