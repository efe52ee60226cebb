# Two commands on a fresh machine with only python3 and make:
#   make run    create .venv, install, run the whole stack (objecta up)
#   make test   create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test fuzz chaos bench clean

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

# bench/commands.py needs wrk; without it, it says so and the other benchmarks still run.
bench: $(BIN)/.installed
	-$(BIN)/python bench/commands.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/aggregate.py

clean:
	rm -rf $(VENV) .pytest_cache

# schemathesis against a real edge with many more examples than the suite's pass (tests/edge/test_fuzz.py).
fuzz: $(BIN)/.installed
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_SECONDS=$${FUZZ_SECONDS:-900} $(BIN)/pytest -p no:cacheprovider -m fuzz -s tests/edge/test_fuzz.py $(ARGS)
