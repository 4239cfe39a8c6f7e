"""The IMS half of a session: the ``reg`` event subscription and what its news mean.

An ``ims`` registration subscribes to its own registration state once registered
(TS 24.229 §5.1.1.3, RFC 3680): ``reg_event.RegEventWatch`` runs the subscription,
and here the session acts on what the network says: a deactivation is answered by
registering again, once; a second is reported as ``DeregisteredByNetwork``; a
shortened expiry moves the refresh earlier. Kept apart from ``session.Session``, which
sets every attribute below, so each module holds one concern.
"""

from __future__ import annotations

import logging

from sipprofile.proto.schema import State
from sipprofile.server.sip.registration_events import Registered

from .reg_event import RegEventHooks, RegEventWatch
from .session_base import SessionBase
from .status_batch import UNBOUND
from .timers import Timers

_log = logging.getLogger(__name__)

#: The network ended an IMS registration twice (reg event): not registered again.
DEREGISTERED_BY_NETWORK = "DeregisteredByNetwork"


class SessionRegEvent(SessionBase):
    """The reg-event part of ``Session``."""

    __slots__ = ()

    _timers: Timers
    _watch: RegEventWatch | None
    _last_registered: Registered | None
    _deactivations: int

    def _watch_registration(self, event: Registered) -> None:
        """Subscribe to the registration's state (TS 24.229 §5.1.1.3), once per binding.

        To the first registered public identity (the default one), along the
        registration's route and Service-Route, over its flow; anew when the Contact
        changed (another flow or address) or the previous subscription ended.
        """
        watch, flow, machine = self._watch, self._flow, self._machine
        if watch is not None and watch.active and watch.config.contact == event.contact:
            return
        self._end_watch()
        if flow is None or machine is None:
            return
        config = RegEventWatch.new_config(
            aor=event.aors[0] if event.aors else self.profile.settings.aor,
            contact=event.contact,
            flow=flow,
            via_sent_by=machine.config.via_sent_by,
            route=machine.config.route + event.service_route,
            user_agent=machine.config.user_agent,
        )
        hooks = RegEventHooks(self._network_deactivated, self._network_shortened, self._watch_ended)
        self._watch = RegEventWatch(
            self.profile.id, config, flow, self._flows.dispatcher, self._timers, hooks
        )
        self._watch.start()

    def _end_watch(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _network_deactivated(self, why: str) -> None:
        """The network ended our registration: register again, once; then give up.

        TS 24.229 §5.1.1.5 and the reference's IMS agent: a deactivation is answered by
        one new registration; a second is reported as deregistered by the network
        (``DeregisteredByNetwork``), and nothing more is sent until Refresh or Enable.
        """
        machine = self._machine
        if machine is None or self.done.is_set():
            return
        self._deactivations += 1
        self._end_watch()
        if self._deactivations == 1 and why != "rejected":
            _log.info("profile %d: registering again after the network ended it", self.profile.id)
            self._feed(machine.register(self._loop.time()))
            return
        machine.suspend()
        self._status.set(state=State.FAILED, **UNBOUND)
        self._report_failure(
            DEREGISTERED_BY_NETWORK, f"the network ended the registration ({why}), again"
        )
        self._feed([])

    def _network_shortened(self, seconds: int) -> None:
        if self._machine is not None and not self.done.is_set():
            self._feed(self._machine.shorten(seconds, self._loop.time()))

    def _watch_ended(self, reason: str) -> None:
        """The subscription ended; a ``deactivated`` or ``timeout`` one is made again now."""
        self._watch = None
        last, machine = self._last_registered, self._machine
        registered = machine is not None and machine.state.value == State.REGISTERED
        again = reason in ("deactivated", "timeout") and registered and not self.done.is_set()
        if again and last is not None:
            self._loop.call_soon(self._watch_registration, last)
