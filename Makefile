# Two commands on a fresh machine with only python3 and make:
#   make run    create .venv, install, run the whole stack (objecta up)
#   make test   create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test fuzz chaos bench bench-smoke clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: $(BIN)/.installed
	$(BIN)/objecta up

test: $(BIN)/.installed
	$(BIN)/pytest $(ARGS)

# The fault suite (tests/faults, part of `make test` at CI size) at full size: 1,000 commands through 20
# worker kills. Same engines as `make test`: embedded, or DATABASE_URL / REDIS_URL / BROKER_URL when set.
chaos: $(BIN)/.installed
	FAULTS_COMMANDS=1000 FAULTS_KILLS=20 $(BIN)/pytest -m faults tests/faults $(ARGS)

# Every benchmark (commands, workers, notifications, events, aggregate, idle, relay), then one table: figure,
# baseline, ratio, target, met. bench/commands.py needs wrk (Debian: apt-get install wrk): without it the
# others still run and the table says so. Fails only when a benchmark did not run to the end, never for a target.
bench: $(BIN)/.installed
	$(BIN)/python bench/summary.py

# Each benchmark at tiny size (a second or two of load): fails if one does not run or prints no ratio,
# never for a speed; a missing wrk is reported as skipped.
bench-smoke: $(BIN)/.installed
	$(BIN)/python bench/summary.py --smoke

clean:
	rm -rf $(VENV) .pytest_cache

# schemathesis against a real edge with many more examples than the suite's pass (tests/edge/test_fuzz.py).
fuzz: $(BIN)/.installed
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_SECONDS=$${FUZZ_SECONDS:-900} $(BIN)/pytest -p no:cacheprovider -m fuzz -s tests/edge/test_fuzz.py $(ARGS)
