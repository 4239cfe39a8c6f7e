"""A real Kamailio registrar on loopback for the integration tests.

``registrar`` starts and drives private Kamailio instances (Debian's package, installed
by ``.ci/setup``); ``fixtures`` wraps it as pytest fixtures.
"""
