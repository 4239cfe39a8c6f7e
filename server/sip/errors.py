"""Errors raised by the sans-I/O SIP core.

Every error of the SIP layer derives from ``SipError`` so a caller can catch the whole
layer in one clause. Parse errors are also ``ValueError``: "this text is not a valid
value" is what they mean, and code that already catches ``ValueError`` keeps working.
"""

from __future__ import annotations


class SipError(Exception):
    """Root of every error raised under ``sipprofile.server.sip``."""


class SipParseError(SipError, ValueError):
    """Text (or a component value) does not follow the RFC 3261 grammar.

    The message says what is wrong in words a person understands, without repeating the
    whole input: callers add their own context (``"Registrar: <message>"``), and a URI
    may carry a password that must not end up in a log line.
    """
