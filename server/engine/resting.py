"""A registration at rest: what a registered session keeps between two refreshes.

A live ``Session`` is a graph of some 5 KB (its profile, the SIP machine with its
configuration and digest state, the flow subscriptions, its status batch); a gateway
holds ten thousand of them, each idle for minutes at a time (issue 7: 2 KB per live
registration). Once a UDP registration is registered with nothing in flight, the
engine keeps this record instead and drops the session; the refresh timer, or any
call that concerns the profile, makes a session from it again, equal to the one it
replaced (``Session.resumed``): same Call-ID and From tag, the next CSeq, the same
flow, NAT address and digest answers. The profile is read from the database again
then; its passwords are kept here, so that a registration can always be ended (a
deleted profile's passwords are gone from the database by the time it would look).
"""

from __future__ import annotations

from collections.abc import Callable

from sipprofile.server.sip.registration import RegistrationRest
from sipprofile.server.transport.flow import Flow

from .access_point import NetworkPath
from .servers import Servers
from .timers import Alarm


class RestingSession:
    """One registered profile's session, laid to rest until its refresh is due.

    Callable: it is its own timer callback, which hands its profile id to the
    engine's ``wake`` (no bound method or closure per registration).
    """

    __slots__ = (
        "access_point",
        "alarm",
        "call_id",
        "contact_address",
        "flow",
        "flow_event",
        "from_tag",
        "password",
        "path",
        "profile_id",
        "proxy_password",
        "public_address",
        "registration",
        "rerouted",
        "servers",
        "wake",
    )

    def __init__(
        self,
        profile_id: int,
        registration: RegistrationRest,
        *,
        call_id: str,
        from_tag: str,
        password: str | None,
        proxy_password: str | None,
        flow: Flow,
        path: NetworkPath,
        access_point: str,
        servers: Servers | None,
        public_address: str,
        contact_address: str | None,
        wake: Callable[[int], None],
    ) -> None:
        self.profile_id = profile_id
        self.registration = registration
        self.call_id = call_id
        self.from_tag = from_tag
        #: The registrar's and the proxy's passwords the binding was made with (two
        #: slots, not the session's pair: a tuple more per registration).
        self.password = password
        self.proxy_password = proxy_password
        self.flow = flow
        #: The way out it registered on, and the profile's AccessPoint that chose it:
        #: the engine compares them with the network's state without the profile.
        self.path = path
        self.access_point = access_point
        #: The servers resolved and the one in use (None: a registrar named by address).
        self.servers = servers
        self.public_address = public_address
        self.contact_address = contact_address
        #: The default route moved while it rested: register the new way when woken.
        self.rerouted = False
        #: What the flow's keep-alive said while it rested, for the session to hear:
        #: ("closed", why) or ("mapped", the NAT's new ``host:port``); None: nothing.
        self.flow_event: tuple[str, str] | None = None
        #: Its deadline on the engine's ``Timers`` (the refresh), None once woken.
        self.alarm: Alarm | None = None
        self.wake = wake

    def __call__(self) -> None:
        """The refresh is due: ask the engine for a session again."""
        self.alarm = None
        self.wake(self.profile_id)
