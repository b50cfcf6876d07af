# `make demo` and `make test` each set everything up on a fresh machine: a virtualenv with the
# pinned packages and this project, the system FluidSynth library and the FluidR3_GM soundfont
# (apt-get when root or sudo allows).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

.PHONY: demo test setup system-deps bench clean

demo: setup
	$(BIN)/python app.py

test: setup
	@scripts/system-deps.sh --browser
	$(BIN)/python -m pytest tests

setup: $(STAMP) system-deps

system-deps:
	@scripts/system-deps.sh

# Re-installs only when requirements.txt changes, so the second run is quick.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

bench: setup
	$(BIN)/python bench/training_speed.py
	$(BIN)/python bench/generation.py

clean:
	rm -rf $(VENV) .pytest_cache
