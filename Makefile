# The two set-up commands: `make demo` and `make test`. Each creates .venv if missing.
VENV := .venv
STAMP := $(VENV)/.mlxmed-installed

.PHONY: demo test test-fast measure lint bench install clean

demo: $(STAMP)
	$(VENV)/bin/mlxmed demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# Skip the slow end-to-end tests on the bundled model (CI runs everything).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow"

# Long measurements on the bundled model (the cardiology learning check), recorded by hand.
measure: $(STAMP)
	$(VENV)/bin/python -m pytest -m measurement

lint: $(STAMP)
	$(VENV)/bin/ruff check mlxmed cli studio tests bench

# Speed, memory and size against the alternatives (not part of `make test`); writes
# bench/results.json and bench/RESULTS.md. Installs the `bench` extra (PyTorch CPU, PEFT).
bench: $(STAMP)
	$(VENV)/bin/pip install --quiet -e ".[bench]"
	$(VENV)/bin/python bench/run.py

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh scripts/constraints.txt
	bash scripts/install.sh
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
