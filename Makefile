# sipprofiled — the two commands of the README are `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
TYPECHECK := build/typecheck
# The package as a packager builds it with SIPPROFILE_MYPYC=1 (setup.py): the SIP core
# compiled by mypyc. Installed apart from the editable .venv, whose pure-Python modules
# it shadows when put first on PYTHONPATH.
COMPILED := build/compiled
SOURCES := $(shell find server client proto -name '*.py' -o -name '*.xml') setup.py pyproject.toml

.PHONY: setup test lint typecheck pytest pytest-compiled compiled demo bench clean

setup:
	@bash .ci/setup

test: setup lint pytest pytest-compiled

lint: setup typecheck
	$(VENV)/bin/ruff check server client proto tests bench setup.py
	$(VENV)/bin/ruff format --check server client proto tests bench setup.py

# mypy cannot follow setuptools' editable import hook, so it reads the package
# through a tree of links that mirrors the installed layout.
typecheck: setup
	@mkdir -p $(TYPECHECK)/sipprofile
	@for d in server client proto; do ln -sfn ../../../$$d $(TYPECHECK)/sipprofile/$$d; done
	cd $(TYPECHECK) && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p sipprofile

pytest: setup
	$(PY) -m pytest -q -p no:cacheprovider

# The same tests against the compiled build: mypyc checks at run time the types mypy
# only assumed, so the compiled core must pass everything the pure one passes.
pytest-compiled: compiled
	SIPPROFILE_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED) $(PY) -m pytest -q -p no:cacheprovider

compiled: $(COMPILED)/.built

$(COMPILED)/.built: $(SOURCES) | setup
	rm -rf $(COMPILED)
	SIPPROFILE_MYPYC=1 $(VENV)/bin/pip install -q --disable-pip-version-check --no-deps \
		--no-build-isolation --target $(COMPILED) .
	touch $@

demo: setup
	$(PY) -m bench.demo

# Measured on the build a distribution ships (the compiled core); the pure-Python core
# is measured too by bench.sipcore, for comparison.
bench: setup compiled
	PYTHONPATH=$(COMPILED) $(PY) -m bench.run
	$(PY) -m bench.sipcore
	PYTHONPATH=$(COMPILED) $(PY) -m bench.sipcore
	PYTHONPATH=$(COMPILED) $(PY) -m bench.signals
	PYTHONPATH=$(COMPILED) $(PY) -m bench.registrations
	PYTHONPATH=$(COMPILED) $(PY) -m bench.access_points

clean:
	rm -rf build .venv *.egg-info
