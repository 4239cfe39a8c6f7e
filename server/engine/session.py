"""One profile's live registration: the asyncio side of ``sip.registration``.

The session resolves the next hop, opens (or reuses) a flow, builds the
``RegistrationConfig`` from the profile and the flow's local address, and then only
feeds the sans-I/O machine: responses from the dispatcher, flow closures, and the
machine's next deadline, kept on the engine's ``Timers``. Every event the machine
emits becomes a status change on the registry, which the bus turns into signals.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Callable
from dataclasses import replace

from sipprofile.proto.names import ERROR_PREFIX, Event
from sipprofile.proto.schema import State
from sipprofile.server.registry.model import NO_FLOW, Profile
from sipprofile.server.sip.aka import UsimKeys
from sipprofile.server.sip.message import Response
from sipprofile.server.sip.randomness import random_bytes
from sipprofile.server.sip.registration import (
    Registration,
    RegistrationConfig,
)
from sipprofile.server.sip.registration_events import (
    Deregistered,
    Failed,
    Registered,
    Retrying,
    SendRequest,
    StateChanged,
    UsimSequence,
)
from sipprofile.server.sip.registration_events import Event as RegEvent
from sipprofile.server.sip.uri import SipUri, parse_uri, uri_equivalent
from sipprofile.server.transport.flow import Flow
from sipprofile.server.transport.flows import Flows
from sipprofile.server.transport.resolve import resolve_literal
from sipprofile.server.types import RegistrationBehaviour

from .access_point import DEFAULT_PATH, NetworkPath
from .flag import Flag
from .pacing import Pacer
from .profile_config import (
    IETF_BEHAVIOUR,
    keepalive_interval,
    next_hop_uri,
    printable,
    registration_config,
    sent_by,
    tls_policy,
)
from .reg_event import RegEventWatch
from .resting import RestingSession
from .servers import Servers, binding
from .session_rest import SessionRest
from .status_batch import UNBOUND, StatusBatch, StatusSink
from .timers import Alarm, Timers

_log = logging.getLogger(__name__)

#: ``Flow`` property values by (transport, local, remote): the sessions on one flow
#: share one tuple in the registry's status (ten thousand on one registrar's flow).
_FLOW_NAMES: dict[tuple[str, tuple[str, int], tuple[str, int]], tuple[str, str, str]] = {}
_FLOW_NAMES_KEPT = 1024  # flows come and go with the network: start over past this


class Session(SessionRest):
    """The registration of one profile, alive while it is wanted."""

    __slots__ = ()  # all in ``SessionBase``

    def __init__(
        self,
        profile: Profile,
        password: str | None,
        proxy_password: str | None,
        flows: Flows,
        sink: StatusSink,
        timers: Timers,
        path: NetworkPath | None = DEFAULT_PATH,
        network_reason: str = "",
        behaviour: RegistrationBehaviour = IETF_BEHAVIOUR,
        usim: UsimKeys | None = None,
        pacer: Pacer | None = None,
        on_rest: Callable[[Session], None] | None = None,
        status: StatusBatch | None = None,
    ) -> None:
        """``on_rest``: offered the session when it may have come to rest."""
        self.profile = profile
        self._on_rest = on_rest
        #: The engine's pacer: a slot for every first REGISTER on a new flow.
        self._pacer = pacer
        #: The software USIM answering AKA challenges (ims), its SQN kept current.
        self._usim = usim
        #: How this profile's type registers (expiry, retries, the IMS extras).
        self.behaviour = behaviour
        self._passwords = (password, proxy_password)
        self._flows = flows
        self._status = status or StatusBatch(sink, profile.id)
        self._loop = timers.loop
        self._machine: Registration | None = None
        self._flow: Flow | None = None
        self._hop: SipUri = next_hop_uri(profile)
        #: The last next-hop text seen to name ``_hop`` (spares a parse per request).
        #: A registrar reached directly is the Request-URI of every REGISTER, by the
        #: very text it is stored as: known from the start.
        settings = profile.settings
        self._hop_text = "" if settings.outbound_proxy.uri else settings.registrar.uri
        self._moving: asyncio.Task[None] | None = None
        self._unsent: str | None = None
        self._unsubscribe: Callable[[], None] = lambda: None
        self._timers = timers
        self._servers = Servers()
        #: The alarm of the machine's next deadline on ``_timers``, and that deadline.
        self._timer: Alarm | None = None
        self._deadline: float | None = None
        #: The branch of the request in flight, the one responses are delivered for:
        #: the machine answers only its pending request, so older branches are
        #: forgotten (kept, each refresh would leave one behind for good).
        self._branch: str | None = None
        # The dialog's identifiers and a secret prefix for its branches, from the pool
        # of the kernel's random bytes (``randomness``): thousands of sessions start at once.
        seed = random_bytes(26).hex()
        self._call_id = f"{seed[:24]}@sipprofiled"
        self._from_tag = seed[24:36]
        #: Branches are this prefix (64 random bits, for this session only) and a
        #: count: unique, and not to be guessed by whoever cannot see our requests.
        self._branch_prefix = f"z9hG4bK{seed[36:]}."
        self._branch_count = 0
        self.done = Flag()
        self._registered_once = False
        #: The RFC 3680 reg-event subscription of an IMS registration, and how often
        #: the network ended the registration (once is answered by registering again).
        self._watch: RegEventWatch | None = None
        self._last_registered: Registered | None = None
        self._deactivations = 0
        #: ``host:port`` the registrar last saw us at (Via received/rport), or "".
        self.public_address = ""
        #: The NAT's ``host:port`` our Contact names instead of the flow's, or None.
        self._contact_address: str | None = None
        #: The way out the engine chose (None: wait for the network, and why).
        self._path = path
        self._network_reason = network_reason
        #: Set when the path changes, to end a wait (backoff or no network) at once.
        self._wake = Flag()
        self._waiting = False  # "waiting-for-network" shown
        self._reregister = False  # register at once after the move under way
        self._switched = False  # moved to another path while registered: "updated"
        self._recontacting = False  # a REGISTER for a NAT's address is about to go

    @classmethod
    def resumed(
        cls,
        record: RestingSession,
        profile: Profile,
        flows: Flows,
        sink: StatusSink,
        timers: Timers,
        *,
        behaviour: RegistrationBehaviour = IETF_BEHAVIOUR,
        pacer: Pacer | None = None,
        on_rest: Callable[[Session], None] | None = None,
    ) -> Session:
        """The session ``record`` was made from, registered on the way it rested on."""
        session = cls(
            profile,
            record.password,
            record.proxy_password,
            flows,
            sink,
            timers,
            record.path,
            behaviour=behaviour,
            pacer=pacer,
            on_rest=on_rest,
            status=StatusBatch(sink, profile.id, State.REGISTERED),
        )
        session._resume_from(record)
        return session

    # ---------------------------------------------------------------- control

    def start_now(self) -> bool:
        """Send the first REGISTER from here if nothing needs waiting for; else False.

        A next hop that is an IP address reached over UDP needs no lookup and no
        connection, so the engine starts such registrations without a task each (a
        thousand always-on profiles at start-up). Anything else is for ``start``.
        """
        uri = self._hop
        target = resolve_literal(uri, tls_policy(self.profile))
        if target is None or target.transport != "udp" or self._path is None:
            return False
        try:
            flow = self._flows.udp_flow(target, *binding(self._path, target))
        except ConnectionError:
            return False  # start() reports it and retries
        self._begin(flow, uri)  # "registering" comes with the first REGISTER
        return True

    async def start(self, *, paced: bool = False) -> None:
        """Connect to the next hop and send the first REGISTER.

        ``paced``: the engine gave this start a slot of its pacer already.
        """
        uri = self._hop  # the profile's next hop, found at construction
        flow = await self._connect(uri, paced=paced)
        if flow is not None:
            self._begin(flow, uri)

    def _begin(self, flow: Flow, uri: SipUri) -> None:
        self._attach(flow, uri)
        self._machine = Registration(
            self._config(flow, uri),
            branch_factory=self._new_branch,
            random=random.random,  # jitter: needs spreading, not secrecy
        )
        self._feed(self._machine.register(self._loop.time()))

    def _new_branch(self) -> str:
        self._branch_count += 1
        return self._branch_prefix + str(self._branch_count)  # no format spec: a call

    def _attach(self, flow: Flow, uri: SipUri) -> None:
        self._unsubscribe()
        if flow is not self._flow:  # a NAT maps each flow on its own: learn it anew
            self._contact_address = None
            self.public_address = ""
        self._flow = flow
        if uri is not self._hop:
            self._hop = uri
            self._hop_text = ""
        # its end, and (UDP) a STUN answer that saw us elsewhere: a NAT
        self._unsubscribe = flow.watch(self._on_flow_closed, self._learn)
        self._status.set(flow=self._flow_status())

    def _flow_status(self) -> tuple[str, str, str]:
        """The ``Flow`` property: transport, local and remote ``host:port`` in use."""
        flow = self._flow
        if flow is None:
            return NO_FLOW
        key = (flow.transport, flow.local, flow.remote)
        names = _FLOW_NAMES.get(key)
        if names is None:
            if len(_FLOW_NAMES) >= _FLOW_NAMES_KEPT:
                _FLOW_NAMES.clear()
            names = _FLOW_NAMES[key] = (flow.transport, sent_by(*flow.local), sent_by(*flow.remote))
        return names

    def update(self, profile: Profile) -> None:
        """Same binding, new Contact parameters: one REGISTER updates it in place."""
        self.profile = profile
        if self._machine is not None and self._flow is not None:
            config = self._config(self._flow, self._hop)
            self._feed(self._machine.update(config, self._loop.time()))

    def set_credentials(
        self,
        profile: Profile,
        password: str | None,
        proxy_password: str | None,
        usim: UsimKeys | None = None,
    ) -> None:
        """New credentials, used from the next challenge on; the binding stays."""
        self.profile = profile
        self._passwords = (password, proxy_password)
        self._usim = usim
        if self._machine is not None and self._flow is not None:
            config = self._config(self._flow, self._hop)
            self._machine.set_credentials(config.credentials, config.proxy_credentials)

    def refresh(self) -> None:
        """Register again now (Refresh); nothing while waiting for the network."""
        if self._machine is not None and self._flow is not None:
            self._feed(self._machine.register(self._loop.time()))

    async def stop(self, grace: float = 4.0) -> None:
        """Deregister, waiting at most ``grace`` seconds, then let go of everything."""
        if self._machine is None:
            self.done.set()  # ends a start() that is still waiting to connect
        else:
            self.done.clear()  # from here on, "done" means the un-REGISTER is answered
            if self._watch is not None:
                self._watch.stop()  # unsubscribe, then deregister
            self._feed(self._machine.deregister(self._loop.time()))
            if self._machine.state.value not in (State.UNREGISTERED, State.FAILED):
                try:
                    await asyncio.wait_for(self.done.wait(), grace)
                except TimeoutError:
                    _log.info("profile %d: no answer to the un-REGISTER", self.profile.id)
        self._close()
        self._status.now(state=State.UNREGISTERED, **UNBOUND)

    def _close(self) -> None:
        self._end_watch()
        if self._moving is not None:
            self._moving.cancel()
        if self._timer is not None:
            self._timers.cancel(self._timer)
            self._timer = self._deadline = None
        if self._branch is not None:
            self._flows.dispatcher.forget(self._branch)
            self._branch = None
        self._unsubscribe()
        # The machine calls back into the session (its branch factory): a cycle that
        # only the collector would free, and it runs the oldest generation rarely (the
        # soak saw megabytes pile up for ten minutes). A gateway ends sessions all day,
        # so the ended one lets go of its machine here.
        self._machine = None
        self.done.set()

    # ---------------------------------------------------------------- machine

    def _config(self, flow: Flow, uri: SipUri) -> RegistrationConfig:
        password, proxy_password = self._passwords
        return registration_config(
            self.profile,
            flow,
            uri,
            call_id=self._call_id,
            from_tag=self._from_tag,
            password=password,
            proxy_password=proxy_password,
            contact_address=self._contact_address,
            behaviour=self.behaviour,
            usim=self._usim,
        )

    def _on_response(self, response: Response) -> None:
        if self._machine is not None:
            self._feed(self._machine.receive(response, self._loop.time()))
            self._offer_rest()

    def _offer_rest(self) -> None:
        """Let the engine lay this session to rest, when it can rest (``can_rest``).

        Only from the callbacks that start from the outside (a response, a timer):
        nothing up the stack then holds on to the session. Asked here first, in
        compiled code: most offers (every response before the 200) are refused, and
        the engine's own checks are interpreted.
        """
        if self._on_rest is not None and self.can_rest():  # asked here first: compiled
            self._on_rest(self)

    def flow_said(self, event: tuple[str, str]) -> None:
        """Hear what the flow's keep-alive said while this registration rested.

        ``("closed", why)``: register again on a new flow; ``("mapped", host:port)``:
        a NAT mapped us anew (``RestingSession.flow_event``).
        """
        kind, value = event
        if kind == "closed":
            self._on_flow_closed(value)
        else:
            self._learn(value)

    def _on_flow_closed(self, reason: str) -> None:
        _log.info("profile %d: connection closed (%s); connecting again", self.profile.id, reason)
        if self._machine is not None and not self.done.is_set():
            self._move(self._hop)

    def _on_timer(self) -> None:
        self._timer = self._deadline = None
        if self._machine is not None:
            self._feed(self._machine.timer(self._loop.time()))
            self._offer_rest()

    def _feed(self, events: list[RegEvent]) -> None:
        for event in events:
            self._handle(event)
        self._status.apply()
        deadline = self._machine.next_deadline() if self._machine else None
        if deadline == self._deadline:
            return
        if self._timer is not None:
            self._timers.cancel(self._timer)
        self._deadline = deadline
        self._timer = None if deadline is None else self._timers.call_at(deadline, self._on_timer)

    def _handle(self, event: RegEvent) -> None:
        pid = self.profile.id
        if isinstance(event, SendRequest):
            if event.branch != self._branch:  # a new transaction, not a retransmission
                dispatcher = self._flows.dispatcher
                if self._branch is not None:
                    dispatcher.forget(self._branch)
                self._branch = event.branch
                dispatcher.expect(event.branch, self._on_response)
            if self._flow is None:
                self._unsent = event.branch  # moving: the machine re-sends once there
                return
            if event.next_hop != self._hop_text:
                hop = parse_uri(event.next_hop)
                if not uri_equivalent(hop, self._hop):
                    self._unsent = event.branch
                    self._move(hop)
                    return
                self._hop_text = event.next_hop  # the same hop, written another way
            self._unsent = None
            self._flow.send(event.data)
        elif isinstance(event, StateChanged):
            self._status.set(state=event.state)
        elif isinstance(event, Registered):
            self._status.set(
                registered_aors=event.aors,
                registered_contact=event.contact,
                service_route=event.service_route,
                expires=event.expires,
                last_error=("", ""),
                flow=self._flow_status(),
                negotiated_security=event.negotiated_security,
            )
            self._learn(event.public_address)
            if self._flow is not None and (event.outbound or event.flow_timer):
                # RFC 5626 keep-alives, where the registrar takes part in outbound: a
                # server that does not may not answer pings, and must not look dead
                interval = keepalive_interval(self.profile, event.flow_timer, self._flow)
                self._flow.keep_alive(interval)
            if self.behaviour.reg_event:
                self._last_registered = event
                self._watch_registration(event)
            if not self._registered_once:
                self._registered_once = True
                self._switched = False
                self._status.event(Event.REGISTERED)
            elif self._switched:  # registered the new way: the flow property says which
                self._switched = False
                self._status.event(Event.UPDATED)
        elif isinstance(event, Deregistered):
            self._status.set(**UNBOUND)
            if self._registered_once:
                self._registered_once = False
                self._status.event(Event.DEREGISTERED)
            if event.problem:
                _log.info("profile %d: un-REGISTER: %s", pid, event.problem)
            self.done.set()
        elif isinstance(event, Retrying) and event.next_server and self._fail_over(event):
            return  # not a failure the user sees: another server is being tried
        elif isinstance(event, (Failed, Retrying)):
            self._report_failure(event.error, event.message)
            if isinstance(event, Failed):
                self.done.set()
        elif isinstance(event, UsimSequence):  # rare: last of the checks
            if self._usim is not None:
                self._usim = replace(self._usim, sqn=event.sqn)
            self._status.save_sqn(event.sqn)

    def _report_failure(self, error: str, message: str) -> None:
        # logged by the status batch, with the change of state it comes with
        name = ERROR_PREFIX + error
        message = printable(message)
        if self._machine is not None and self._machine.state.value == State.FAILED:
            self._status.set(state=State.FAILED)
        self._status.set(last_error=(name, message))
        if self._registered_once:
            self._registered_once = False
            self._status.event(Event.DEREGISTERED)
        self._status.error(name, message)

    def _learn(self, public: str) -> None:
        """Keep the address the registrar saw us at; behind a NAT, register that one.

        Over UDP the NAT's mapping (Via ``received``/``rport``) is where requests for
        us must be sent, so the Contact moves there with one more REGISTER, and the
        binding at the old address is removed by the one after (the machine's stale
        bindings). Over TCP and TLS the connection is the way back: only logged.
        """
        flow = self._flow
        if not public or public == self.public_address or flow is None:
            return
        # one string for the thousands of registrations behind one NAT address
        self.public_address = sys.intern(public)
        contact = self._contact_address or sent_by(*flow.local)
        if public == contact:
            return
        _log.info(
            "profile %d: the registrar sees us at %s, our Contact says %s (a NAT)",
            self.profile.id,
            public,
            contact,
        )
        if flow.transport == "udp":
            self._contact_address = public
            self._recontacting = True
            self._loop.call_soon(self._recontact)  # after the events being handled

    def _recontact(self) -> None:
        self._recontacting = False
        if self._machine is not None and self._flow is not None:
            config = self._config(self._flow, self._hop)
            self._feed(self._machine.update(config, self._loop.time()))
