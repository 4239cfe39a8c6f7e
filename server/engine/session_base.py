"""What every part of ``Session`` relies on: its shared attributes and central steps.

``Session`` is written in three modules (``session.py``, ``session_moves.py``,
``session_reg_event.py``), each under the size the project keeps to; the two mixins
declare here, once, the attributes ``Session.__init__`` sets and the two methods it
defines that they call, so mypy checks every use against one declaration.
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

    def _feed(self, events: list[RegEvent]) -> None:
        """Hand machine events to the session (``Session._feed``)."""
        raise NotImplementedError

    def _report_failure(self, error: str, message: str) -> None:
        """Report a failure as status, event and log (``Session._report_failure``)."""
        raise NotImplementedError
