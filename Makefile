# sipprofiled — the two commands of the README are `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
TYPECHECK := build/typecheck
# The package as a packager builds it with SIPPROFILE_MYPYC=1 (setup.py): the SIP core
# compiled by mypyc. Installed apart from the editable .venv, whose pure-Python modules
# it shadows when put first on PYTHONPATH.
COMPILED := build/compiled
SOURCES := $(shell find server client proto -name '*.py' -o -name '*.xml') setup.py pyproject.toml

.PHONY: setup test lint typecheck pytest pytest-compiled compiled demo bench fuzz reliability clean

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
	rm -rf $(COMPILED) build/lib.* build/temp.* build/bdist.*
	SIPPROFILE_MYPYC=1 $(VENV)/bin/pip install -q --disable-pip-version-check --no-deps \
		--no-build-isolation --target $(COMPILED) .
	touch $@

demo: setup
	$(PY) -m bench.demo

# Measured on the build a distribution ships (the compiled core); the pure-Python core
# is measured too by bench.sipcore, for comparison. Issue 7's numbers (registrations
# against Kamailio's uac at BENCH_N, fan-out to 100 clients, and at SCALE_N: start-up,
# memory and the refresh load over REFRESH_WINDOW seconds) end up in bench/RESULTS.md.
# All of it takes about 20 minutes at the defaults (the refresh window is most of it);
# `make bench REFRESH_WINDOW=60 SCALE_N=2000` is a quicker look.
BENCH_N ?= 5000
SCALE_N ?= 10000
REFRESH_WINDOW ?= 300
# A bench that fails goes on to the next ("-"); its row in RESULTS.md says "not run"
# rather than showing an older run's number.
bench: setup compiled
	rm -f bench/results/*.json
	-PYTHONPATH=$(COMPILED) $(PY) -m bench.run
	-$(PY) -m bench.sipcore
	-PYTHONPATH=$(COMPILED) $(PY) -m bench.sipcore
	-PYTHONPATH=$(COMPILED) $(PY) -m bench.signals
	-PYTHONPATH=$(COMPILED) $(PY) -m bench.registrations $(BENCH_N)
	-PYTHONPATH=$(COMPILED) $(PY) -m bench.fanout
	-PYTHONPATH=$(COMPILED) $(PY) -m bench.scale --n $(SCALE_N) --refresh-window $(REFRESH_WINDOW)
	-PYTHONPATH=$(COMPILED) $(PY) -m bench.access_points
	BENCH_COMMAND="make bench BENCH_N=$(BENCH_N) SCALE_N=$(SCALE_N) REFRESH_WINDOW=$(REFRESH_WINDOW)" \
		$(PY) -m bench.report

# Issue 8's long fuzzing run. The hypothesis side runs in every `make pytest`
# (tests/fuzz, bounded); this runs the same checks (tests/fuzz/oracles_*.py) under atheris,
# FUZZ_SECONDS per target, from tests/fuzz/corpus/<target> and what earlier runs added
# to build/fuzz/<target>/corpus. An input that raises anything but the documented error,
# or breaks a checked property, is written to build/fuzz/<target>/crash-* (the log
# beside it) and fails the run; the next run starts from it again, so a crash keeps
# failing until it is fixed and kept as an @example in tests/fuzz.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= message stream headers digest reginfo settings registration
fuzz: setup
	@$(PY) -c 'import atheris' 2>/dev/null || \
		$(VENV)/bin/pip install -q --disable-pip-version-check 'atheris>=2.3'
	@failed=""; for t in $(FUZZ_TARGETS); do \
		dir=build/fuzz/$$t; mkdir -p $$dir/corpus; \
		for old in $$dir/crash-* $$dir/timeout-* $$dir/oom-*; do \
			if [ -e "$$old" ]; then mv -f "$$old" $$dir/corpus/; fi; \
		done; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		PYTHONPATH=tests $(PY) -m fuzz.atheris_targets $$t -max_total_time=$(FUZZ_SECONDS) \
			-max_len=8192 -timeout=10 -artifact_prefix=$$dir/ $$dir/corpus tests/fuzz/corpus/$$t \
			>$$dir/fuzz.log 2>&1; \
		status=$$?; found=$$(ls $$dir | grep -E '^(crash|timeout|oom)-'); \
		if [ $$status -ne 0 ] || [ -n "$$found" ]; then \
			failed="$$failed $$t"; tail -n 40 $$dir/fuzz.log; \
		else \
			grep -E '^#[0-9]+[[:space:]]+DONE' $$dir/fuzz.log | tail -n 1; \
		fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (see build/fuzz/)"; exit 1; fi

# Issue 8's long runs: the tests under tests/reliability at full length (crash safety
# at 100 kill points, the soak for 600 s: about 15 minutes in all; RELIABILITY_POINTS
# and SOAK_SECONDS change them). `make test` runs the same files bounded.
RELIABILITY_POINTS ?= 100
SOAK_SECONDS ?= 600
reliability: setup
	SIPPROFILED_CRASH_POINTS=$(RELIABILITY_POINTS) SIPPROFILED_SOAK_SECONDS=$(SOAK_SECONDS) \
		$(PY) -m pytest -q -p no:cacheprovider tests/reliability

clean:
	rm -rf build .venv *.egg-info

# ---- make install / make uninstall: the system integration files --------------------
# What makes sipprofiled a system service like hostnamed: units, D-Bus activation, the
# bus policy, the polkit actions, the system user and its state directory. The Python
# package (and with it $(BINDIR)/sipprofiled) is not installed here: a distribution
# builds it with its Python packaging (pybuild, with SIPPROFILE_MYPYC=1 for the
# compiled core), by hand it is `pip install` (README, "Installing"). The files name
# the executable as $(BINDIR)/sipprofiled, so BINDIR must be where that put it.
# Debian packaging: make install PREFIX=/usr DESTDIR=debian/sipprofiled.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSTEMD_SYSTEM_UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMD_USER_UNITDIR ?= $(PREFIX)/lib/systemd/user
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DBUS_SYSTEM_SERVICEDIR ?= $(PREFIX)/share/dbus-1/system-services
DBUS_SESSION_SERVICEDIR ?= $(PREFIX)/share/dbus-1/services
# dbus-daemon reads system bus policies only from /usr/share/dbus-1/system.d and
# /etc/dbus-1/system.d, polkit its actions only from /usr/share/polkit-1/actions: with
# a PREFIX other than /usr, point these two there (README, "Installing").
DBUS_POLICYDIR ?= $(PREFIX)/share/dbus-1/system.d
POLKIT_ACTIONDIR ?= $(PREFIX)/share/polkit-1/actions

# source file -> installed path; the files that name the executable get BINDIR.
INSTALL_WITH_BINDIR := \
	systemd/sipprofiled.service=$(SYSTEMD_SYSTEM_UNITDIR)/sipprofiled.service \
	systemd/sipprofiled-user.service=$(SYSTEMD_USER_UNITDIR)/sipprofiled.service \
	systemd/org.sipprofile.SipProfile1.service=$(DBUS_SYSTEM_SERVICEDIR)/org.sipprofile.SipProfile1.service \
	systemd/org.sipprofile.SipProfile1.session.service=$(DBUS_SESSION_SERVICEDIR)/org.sipprofile.SipProfile1.service
INSTALL_AS_IS := \
	systemd/sipprofiled.sysusers.conf=$(SYSUSERSDIR)/sipprofiled.conf \
	systemd/sipprofiled.tmpfiles.conf=$(TMPFILESDIR)/sipprofiled.conf \
	systemd/org.sipprofile.SipProfile1.conf=$(DBUS_POLICYDIR)/org.sipprofile.SipProfile1.conf \
	systemd/org.sipprofile.SipProfile1.policy=$(POLKIT_ACTIONDIR)/org.sipprofile.SipProfile1.policy

.PHONY: install uninstall

# Plain shell and coreutils only: no network, no Python, nothing from .venv.
install:
	@set -e; for pair in $(INSTALL_WITH_BINDIR); do \
		src=$${pair%%=*}; dst="$(DESTDIR)$${pair#*=}"; \
		install -d -m 0755 "$$(dirname "$$dst")"; \
		sed 's|/usr/bin/sipprofiled|$(BINDIR)/sipprofiled|g' "$$src" >"$$dst.tmp"; \
		chmod 0644 "$$dst.tmp"; mv -f "$$dst.tmp" "$$dst"; echo "installed $$dst"; \
	done
	@set -e; for pair in $(INSTALL_AS_IS); do \
		src=$${pair%%=*}; dst="$(DESTDIR)$${pair#*=}"; \
		install -D -m 0644 "$$src" "$$dst"; echo "installed $$dst"; \
	done

uninstall:
	@for pair in $(INSTALL_WITH_BINDIR) $(INSTALL_AS_IS); do \
		dst="$(DESTDIR)$${pair#*=}"; \
		if [ -e "$$dst" ]; then rm -f "$$dst" && echo "removed $$dst"; fi; \
	done
