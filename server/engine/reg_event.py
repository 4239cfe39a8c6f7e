"""The ``reg`` event subscription of one IMS registration: the asyncio side of it.

After an ``ims`` profile registers, TS 24.229 §5.1.1.3 has the UE subscribe to its
own registration state (RFC 3680), so that the network can tell it when it ended or
shortened the registration. ``sip.reg_subscription`` is the sans-I/O machine; this
module gives it a flow, the engine's timers, the dispatcher's routing (responses by
branch, NOTIFYs by Call-ID) and turns its reports into calls on the session:
``deactivated(event)``, ``shortened(seconds)`` and ``ended(reason)``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sipprofile.server.sip.message import Request, Response
from sipprofile.server.sip.reg_subscription import RegSubscription
from sipprofile.server.sip.reg_subscription_events import (
    Event,
    RegistrationDeactivated,
    RegistrationShortened,
    SendResponse,
    Subscribed,
    SubscriptionConfig,
    SubscriptionFailed,
    SubscriptionState,
    SubscriptionTerminated,
)
from sipprofile.server.sip.registration_events import SendRequest
from sipprofile.server.transport.dispatch import Dispatcher
from sipprofile.server.transport.flow import Flow

from .timers import Alarm, Timers

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RegEventHooks:
    """What the session does with the network's news."""

    deactivated: Callable[[str], None]
    shortened: Callable[[int], None]
    ended: Callable[[str], None]


class RegEventWatch:
    """One subscription on one flow; made anew for a new registration or flow."""

    def __init__(
        self,
        profile_id: int,
        config: SubscriptionConfig,
        flow: Flow,
        dispatcher: Dispatcher,
        timers: Timers,
        hooks: RegEventHooks,
    ) -> None:
        self.config = config
        self._pid = profile_id
        self._flow = flow
        self._dispatcher = dispatcher
        self._timers = timers
        self._hooks = hooks
        self._loop = asyncio.get_running_loop()
        self._machine = RegSubscription(
            config, branch_factory=lambda: "z9hG4bK" + os.urandom(10).hex()
        )
        #: The branch of the SUBSCRIBE in flight (the machine answers only that one;
        #: older ones are forgotten, as ``Session`` does, not kept for good).
        self._branch: str | None = None
        self._timer: Alarm | None = None
        self._reply: Callable[[bytes], None] | None = None
        self.closed = False
        dispatcher.accept(config.call_id, self._on_request)

    @classmethod
    def new_config(
        cls,
        *,
        aor: str,
        contact: str,
        flow: Flow,
        via_sent_by: str,
        route: tuple[str, ...],
        user_agent: str,
    ) -> SubscriptionConfig:
        """A subscription's settings: its own Call-ID and tag, the registration's route."""
        return SubscriptionConfig(
            aor=aor,
            contact=contact,
            call_id=f"{secrets.token_hex(12)}@sipprofiled",
            from_tag=secrets.token_hex(6),
            via_transport=flow.transport.upper(),
            via_sent_by=via_sent_by,
            reliable=flow.reliable,
            route=route,
            user_agent=user_agent,
        )

    @property
    def active(self) -> bool:
        """Subscribing or subscribed (not ended, not ending)."""
        state = self._machine.state
        return not self.closed and state in (
            SubscriptionState.SUBSCRIBING,
            SubscriptionState.ACTIVE,
        )

    def start(self) -> None:
        """Send the SUBSCRIBE."""
        self._feed(self._machine.subscribe(self._loop.time()))

    def stop(self) -> None:
        """Unsubscribe (Expires: 0); the final NOTIFY is still answered until ``close``."""
        if not self.closed:
            self._feed(self._machine.unsubscribe(self._loop.time()))

    def close(self) -> None:
        """Forget it: later NOTIFYs of this dialog are answered 481 by the dispatcher."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timers.cancel(self._timer)
            self._timer = None
        if self._branch is not None:
            self._dispatcher.forget(self._branch)
            self._branch = None
        self._dispatcher.refuse(self.config.call_id)

    # ---------------------------------------------------------------- inputs

    def _on_response(self, response: Response) -> None:
        if not self.closed:
            self._feed(self._machine.receive_response(response, self._loop.time()))

    def _on_request(self, request: Request, reply: Callable[[bytes], None]) -> None:
        if self.closed:
            return
        self._reply = reply
        try:
            self._feed(self._machine.receive_notify(request, self._loop.time()))
        finally:
            self._reply = None

    def _on_timer(self) -> None:
        self._timer = None
        if not self.closed:
            self._feed(self._machine.timer(self._loop.time()))

    def _feed(self, events: list[Event]) -> None:
        for event in events:
            self._handle(event)
        if self.closed:
            return
        if self._timer is not None:
            self._timers.cancel(self._timer)
        deadline = self._machine.next_deadline()
        self._timer = None if deadline is None else self._timers.call_at(deadline, self._on_timer)

    def _handle(self, event: Event) -> None:
        pid = self._pid
        if isinstance(event, SendRequest):
            if event.branch != self._branch:  # a new transaction, not a retransmission
                if self._branch is not None:
                    self._dispatcher.forget(self._branch)
                self._branch = event.branch
                self._dispatcher.expect(event.branch, self._on_response)
            self._flow.send(event.data)
        elif isinstance(event, SendResponse):
            if self._reply is not None:
                self._reply(event.data)
        elif isinstance(event, Subscribed):
            _log.debug("profile %d: reg event subscribed for %d s", pid, event.expires)
        elif isinstance(event, RegistrationDeactivated):
            _log.info("profile %d: the network ended the registration (%s)", pid, event.event)
            self._hooks.deactivated(event.event)
        elif isinstance(event, RegistrationShortened):
            _log.info("profile %d: the network shortened it to %d s", pid, event.expires)
            self._hooks.shortened(event.expires)
        elif isinstance(event, SubscriptionFailed | SubscriptionTerminated):
            reason = event.reason
            _log.info("profile %d: reg event subscription ended: %s", pid, reason)
            self.close()
            self._hooks.ended(reason)
