"""What every part of ``Session`` relies on: its shared attributes and central steps.

``Session`` is written in four modules, each under the size the project keeps to and
each one concern, stacked in one line of inheritance: ``SessionBase`` (here) <-
``session_reg_event.SessionRegEvent`` (IMS reg event) <- ``session_moves.SessionMoves``
(connecting, failover, the network) <- ``session_rest.SessionRest`` (resting) <-
``session.Session`` (feeding the SIP machine). A single line, not mixins side by side,
because mypyc compiles these modules (``setup.py``'s ``HOT_GLUE``) and its native
classes take one base class each. Attributes used by more than one part are declared
here, once, as are the methods ``Session`` defines that the earlier parts call, so
mypy checks every use against one declaration.
"""

from __future__ import annotations

import asyncio

from sipprofile.server.registry.model import Profile
from sipprofile.server.sip.registration import Registration
from sipprofile.server.sip.registration_events import Event as RegEvent
from sipprofile.server.transport.flow import Flow
from sipprofile.server.transport.flows import Flows

from .flag import Flag
from .status_batch import StatusBatch


class SessionBase:
    """The attributes and steps shared by the parts of ``Session``."""

    #: Every attribute of ``Session``, as slots: no ``__dict__`` per session, for a
    #: gateway holds ten thousand (issue 7). The other classes add none.
    __slots__ = (
        "_branch",
        "_branch_count",
        "_branch_prefix",
        "_call_id",
        "_contact_address",
        "_deactivations",
        "_deadline",
        "_flow",
        "_flows",
        "_from_tag",
        "_hop",
        "_hop_text",
        "_last_registered",
        "_loop",
        "_machine",
        "_moving",
        "_network_reason",
        "_on_rest",
        "_pacer",
        "_passwords",
        "_path",
        "_recontacting",
        "_registered_once",
        "_reregister",
        "_servers",
        "_status",
        "_switched",
        "_timer",
        "_timers",
        "_unsent",
        "_unsubscribe",
        "_usim",
        "_waiting",
        "_wake",
        "_watch",
        "behaviour",
        "done",
        "profile",
        "public_address",
    )

    profile: Profile
    done: Flag
    _loop: asyncio.AbstractEventLoop
    _status: StatusBatch
    _machine: Registration | None
    _flow: Flow | None
    _flows: Flows

    def _current_machine(self) -> Registration | None:
        """``_machine`` as it is now, for code after an ``await``.

        mypy keeps an attribute narrowed (``is not None``) across an ``await``, during
        which the session may have been closed; mypyc compiles these modules and turns
        that stale narrowing into a type check that raises. A call's result is
        never narrowed.
        """
        return self._machine

    def _feed(self, events: list[RegEvent]) -> None:
        """Hand machine events to the session (``Session._feed``)."""
        raise NotImplementedError

    def _report_failure(self, error: str, message: str) -> None:
        """Report a failure as status, event and log (``Session._report_failure``)."""
        raise NotImplementedError
