# oddping: `make run` runs the main job, `make test` passes the tests. Both create .venv when missing.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast kafka-up kafka-down samples bench clean system-deps generate

$(STAMP): pyproject.toml
	scripts/system-deps.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	scripts/system-deps.sh

samples: $(STAMP)
	$(BIN)/python samples/generate.py

run: $(STAMP)
	scripts/run-pipeline.sh

test: $(STAMP)
	scripts/test.sh

kafka-up:
	dev/kafka/kafka.sh up

kafka-down:
	dev/kafka/kafka.sh down

# The files that restate the rule registry (README table, alert schema enum, chart values schema).
generate: $(STAMP)
	$(BIN)/python -m processors.generated --write

bench: $(STAMP)
	scripts/bench.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
