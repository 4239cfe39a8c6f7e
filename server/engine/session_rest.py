"""Laying a session to rest, and taking it up again: ``Session``'s third part.

``resting.RestingSession`` says why: a registered UDP registration with nothing in
flight is kept as a small record until its refresh. Here are the rules for when a
session may rest (nothing it would have to react to on its own in the meantime) and
the two conversions. The engine decides what to do with the record.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from sipprofile.server.sip.aka import UsimKeys
from sipprofile.server.sip.registration import Registration
from sipprofile.server.types import RegistrationBehaviour

from .profile_config import next_hop_uri
from .resting import RestingSession
from .session_moves import SessionMoves
from .timers import Alarm


class SessionRest(SessionMoves):
    """When a session may rest, and the record it becomes (for ``Session``)."""

    __slots__ = ()

    behaviour: RegistrationBehaviour
    public_address: str
    _recontacting: bool
    _usim: UsimKeys | None
    _passwords: tuple[str | None, str | None]
    _call_id: str
    _from_tag: str
    _registered_once: bool
    _contact_address: str | None
    _timer: Alarm | None
    _deadline: float | None

    def _new_branch(self) -> str:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _on_timer(self) -> None:
        raise NotImplementedError

    def can_rest(self) -> bool:
        """Registered over UDP with nothing of its own to do until the refresh.

        Not while anything is in flight, backing off, moving, waiting for the network
        or about to register a NAT's address; not with an IMS reg-event subscription,
        a USIM or a security agreement, which live with the session; and not after a
        3xx moved it to another next hop than its profile names. UDP keep-alives are
        the flow's, not the session's: the engine watches the flow for resting ones.
        """
        machine, flow, path = self._machine, self._flow, self._path
        if machine is None or flow is None or path is None or flow.transport != "udp":
            return False
        if self._recontacting or self._unsent is not None:
            return False
        if self._watch is not None or self.behaviour.reg_event or self._usim is not None:
            return False
        moving = self._moving
        if (moving is not None and not moving.done()) or self._reregister or self._switched:
            return False
        if self._waiting or self.done.is_set() or not machine.at_rest():
            return False
        hop = next_hop_uri(self.profile)  # from a cache: usually the very object
        return hop is self._hop or hop == self._hop

    def lay_to_rest(self, wake: Callable[[int], None]) -> RestingSession | None:
        """The session as a resting record, the session closed; None if it cannot rest.

        Closing it sends nothing and changes no status: the registration goes on.
        """
        if not self.can_rest():
            return None
        machine, flow, path = self._machine, self._flow, self._path
        assert machine is not None  # can_rest says so, and of these
        assert flow is not None
        assert path is not None
        servers = self._servers
        # the refresh's deadline, already on the timers: the record takes it over
        alarm, deadline = self._timer, self._deadline
        self._timer = self._deadline = None
        record = RestingSession(
            self.profile.id,
            machine.rest(),
            call_id=self._call_id,
            from_tag=self._from_tag,
            password=self._passwords[0],
            proxy_password=self._passwords[1],
            flow=flow,
            path=path,
            access_point=self.profile.settings.access_point,
            servers=servers if servers.chosen else None,
            public_address=self.public_address,
            contact_address=self._contact_address,
            wake=wake,
        )
        self._close()
        refresh_at = record.registration.refresh_at
        if alarm is not None and not (
            deadline == refresh_at and self._timers.hand_over(alarm, record)
        ):
            self._timers.cancel(alarm)
            alarm = None
        record.alarm = alarm or self._timers.call_at(refresh_at, record)
        return record

    def _resume_from(self, record: RestingSession) -> None:
        """Continue the registration ``record`` holds (``Session.resumed``)."""
        self._call_id = record.call_id
        self._from_tag = record.from_tag
        if record.servers is not None:
            self._servers = record.servers
        self._registered_once = True
        alarm, record.alarm = record.alarm, None
        if alarm is not None and self._timers.hand_over(alarm, self._on_timer):
            self._timer, self._deadline = alarm, record.registration.refresh_at
        flow, hop = record.flow, self._hop
        self._attach(flow, hop)
        # the same flow: what the registrar saw of us there still holds
        self.public_address = record.public_address
        self._contact_address = record.contact_address
        self._machine = Registration.resumed(
            self._config(flow, hop),
            record.registration,
            branch_factory=self._new_branch,
            random=random.random,
        )
        self._feed([])  # the refresh's deadline, unless the record's was taken over
