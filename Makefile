# sipprofiled — the two commands of the README are `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
TYPECHECK := build/typecheck

.PHONY: setup test lint typecheck pytest demo bench clean

setup:
	@bash .ci/setup

test: setup lint pytest

lint: setup typecheck
	$(VENV)/bin/ruff check server client proto tests bench
	$(VENV)/bin/ruff format --check server client proto tests bench

# mypy cannot follow setuptools' editable import hook, so it reads the package
# through a tree of links that mirrors the installed layout.
typecheck: setup
	@mkdir -p $(TYPECHECK)/sipprofile
	@for d in server client proto; do ln -sfn ../../../$$d $(TYPECHECK)/sipprofile/$$d; done
	cd $(TYPECHECK) && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p sipprofile

pytest: setup
	$(PY) -m pytest -q -p no:cacheprovider

demo: setup
	$(PY) -m bench.demo

bench: setup
	$(PY) -m bench.run
	$(PY) -m bench.sipcore
	$(PY) -m bench.signals
	$(PY) -m bench.registrations

clean:
	rm -rf build .venv *.egg-info
