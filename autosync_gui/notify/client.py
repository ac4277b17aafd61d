"""The XMPP connection: one per account, shared by every folder.

Routing (measured on Prosody 0.12): a message to the own bare JID reaches
only the highest-priority resource, and a headline to it reaches none. So every autosync
instance logs in with a recognisable resource (``autosync-<host>-<random>``) and a negative
priority, learns the full JIDs of the other instances (own account, and `trusted` accounts
whose presence we are subscribed to) from presence, and sends each of them a directed
``headline`` without a body: human chat clients never see it, it is not stored offline, and
a friend's chat to the bare JID never lands in an instance where nobody reads it.

TLS is mandatory (STARTTLS, or direct TLS on 5223/443), verified against the system CAs or
the configured ca_file. slixmpp would log in over plaintext when a server offers no
STARTTLS (SCRAM needs no encryption), so the stream features are checked here first.
slixmpp has no automatic reconnect after a drop and its own retry back-off grows to
5 minutes, so the connection is supervised here: capped back-off, no retries after an
authentication failure, a ping keepalive to notice dead connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets as _random
import ssl
import time
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from autosync_gui.config import XmppSettings
from autosync_gui.engine.backoff import Backoff
from autosync_gui.engine.events import ChannelState
from autosync_gui.notify.payload import (
    NAMESPACE,
    TAG,
    PayloadError,
    PushNotice,
    from_element,
    to_element,
)
from autosync_gui.text import one_line, safe_host

log = logging.getLogger(__name__)

RESOURCE_PREFIX = "autosync-"
PRIORITY = -1  # negative: never receives messages sent to the bare JID
DIRECT_TLS_PORTS = frozenset({5223, 443})
PENDING_TTL = 600.0  # seconds an unsent notice is still worth sending to a peer that appears
MAX_PEERS = 256  # presence from more full JIDs than this is ignored (no unbounded growth)


class _RedactSasl(logging.Filter):
    """slixmpp logs every stanza at debug level, SASL ones included (PLAIN carries the
    password in base64): blank out their contents so `-v` never leaks it."""

    _CONTENT = re.compile(r">[^<]+<")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(("SEND", "RECV")) \
                and isinstance(record.args, tuple) and record.args:
            text = str(record.args[0])
            if "xmpp-sasl" in text:
                record.args = (self._CONTENT.sub(">[redacted]<", text), *record.args[1:])
        return True


class _QuietDuplicates(logging.Filter):
    """slixmpp's own error lines for failures we report ourselves, in clearer words, through
    the channel state (one line per problem, not three); kept at debug level (-v)."""

    DUPLICATES = ("No appropriate login method", "CERT: Invalid certificate trust chain")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and isinstance(record.msg, str) \
                and record.msg.startswith(self.DUPLICATES):
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


SASL_REDACTION = _RedactSasl()
logging.getLogger("slixmpp.xmlstream.xmlstream").addFilter(SASL_REDACTION)
for _name in ("slixmpp.features.feature_mechanisms.mechanisms", "slixmpp.xmlstream.xmlstream"):
    logging.getLogger(_name).addFilter(_QuietDuplicates())


class XmppLoginError(Exception):
    """Logging in failed; str() is one line (wrong password, TLS refused, unreachable)."""


class Outcome(Enum):
    SESSION = "session"  # logged in
    AUTH_FAILED = "auth"  # wrong password or unknown account: do not retry
    TLS_REFUSED = "tls"  # no TLS offered or certificate not trusted
    UNREACHABLE = "unreachable"
    STOPPED = "stopped"


class NotifyListener(Protocol):
    """What the client reports to (the service adapts this to the engine)."""

    def notice_received(self, notice: PushNotice, sender: str) -> None: ...

    def channel_changed(self, state: ChannelState, detail: str) -> None: ...

    def connected(self) -> None: ...


def resource_for(hostname: str) -> str:
    """`autosync-<host>-<random>`: recognisable by peers, unique per process."""
    return f"{RESOURCE_PREFIX}{safe_host(hostname)[:40]}-{_random.token_hex(4)}"


def where(settings: XmppSettings) -> str:
    """Where we connect, for messages: host:port, or the domain via SRV."""
    domain = settings.jid.partition("@")[2]
    if settings.host:
        return f"{settings.host}:{settings.port or 5222}"
    if settings.port:
        return f"{domain}:{settings.port}"
    return f"{domain} (SRV, else port 5222)"


class _Stream(slixmpp.ClientXMPP):
    """slixmpp's client with our TLS policy and address rules."""

    def __init__(self, jid: str, password: str, settings: XmppSettings) -> None:
        super().__init__(jid, password)
        self.settings = settings
        self.enable_plaintext = False
        port = settings.port
        direct = port in DIRECT_TLS_PORTS
        # With an explicit port, speak what that port speaks instead of trying direct TLS
        # on a STARTTLS port first (a wasted handshake and a misleading TLS error).
        self.enable_direct_tls = direct or port is None
        self.enable_starttls = not direct
        self.ssl_context = ssl.create_default_context()
        if settings.ca_file is not None:
            self.ssl_context.load_verify_locations(cafile=str(settings.ca_file))
        self.ssl_context.check_hostname = True
        self.ssl_context.verify_mode = ssl.CERT_REQUIRED
        self.ca_certs = None
        self.whitespace_keepalive = False  # our own ping keepalive notices dead links
        self.tls_error: str | None = None
        self.auth_failed = False
        self.last_error: str | None = None
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("ssl_invalid_chain", self._on_invalid_chain)
        self.add_event_handler("failed_all_auth", self._on_failed_auth)
        self._endings: set[asyncio.Future[Any]] = set()  # disconnect()'s, see close()

    def disconnect(self, wait: float = 2.0, reason: str | None = None,
                   ignore_send_queue: bool = False) -> asyncio.Future[Any]:
        ending = super().disconnect(wait, reason, ignore_send_queue)
        self._endings.add(ending)
        ending.add_done_callback(self._endings.discard)
        return ending

    async def close(self) -> None:
        """Drop the connection and end the stream's own tasks. slixmpp's abort() and
        disconnect() leave its send loop waiting for stanzas (and a failed login leaves
        an end-of-stream wait): the stream then lives on until the garbage collector,
        whose XMLStream.__del__ schedules the cancel on the stream's loop at whatever
        moment it runs (in the tests: on a closed loop, inside a Qt call; a crash)."""
        self.cancel_connection_attempt()
        self.abort()
        tasks = [t for t in (self._run_out_filters, *self._endings)
                 if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def reset_attempt(self) -> None:
        self.tls_error = None
        self.auth_failed = False
        self.last_error = None

    def tls_active(self) -> bool:
        transport = self.transport
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    async def _handle_stream_features(self, features: Any) -> bool | None:
        """Refuse a server that offers no TLS before anything (SASL) is sent in clear."""
        if not self.tls_active() and "starttls" not in features["features"]:
            self.tls_error = (f"the server at {where(self.settings)} offers no TLS; "
                              "refusing to log in unencrypted")
            log.debug("XMPP: %s", self.tls_error)
            self.abort()
            return True
        return await super()._handle_stream_features(features)

    async def get_dns_records(self, domain: str, port: int | None = None
                              ) -> list[tuple[str, str, str, int]]:
        """SRV first; without SRV records, STARTTLS on the domain's 5222 (not direct TLS)."""
        records = await super().get_dns_records(domain, port)
        return [(service or "xmpp-client", host, address, rport)
                for service, host, address, rport in records]

    def _on_connection_failed(self, error: object) -> None:
        if isinstance(error, ssl.SSLError):
            self.tls_error = f"TLS with {where(self.settings)} failed: {one_line(error)}"
        else:
            self.last_error = one_line(error)

    def _on_invalid_chain(self, error: object) -> None:
        self.tls_error = (f"the TLS certificate of {where(self.settings)} is not trusted "
                          f"({one_line(error)}); set xmpp.ca_file if it is your own CA")
        self.abort()

    def _on_failed_auth(self, _event: object) -> None:
        self.auth_failed = True


class NotifyClient:
    """One supervised XMPP session: sends push notices, receives and vets them."""

    def __init__(self, settings: XmppSettings, password: str, hostname: str,
                 listener: NotifyListener, *, backoff: Backoff | None = None,
                 connect_timeout: float = 20.0, keepalive: float = 60.0,
                 ping_timeout: float = 20.0) -> None:
        self.settings = settings
        self.hostname = safe_host(hostname)
        self.listener = listener
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.ping_timeout = ping_timeout
        self.resource = resource_for(hostname)
        self.own_bare = settings.jid.lower()
        self.trusted = frozenset(t.lower() for t in settings.trusted) - {self.own_bare}
        self._password = password
        self._stream: _Stream | None = None
        self._task: asyncio.Task[None] | None = None
        self._peers: set[str] = set()
        self._pending: dict[str, tuple[str, float]] = {}  # identity -> (commit, time)
        self._audience: dict[str, frozenset[str]] = {}  # identity -> accounts sharing it
        self._session_up = False
        self._stopping = False
        self.attempts = 0  # connection attempts (for tests and diagnostics)
        self.state: ChannelState = ChannelState.DISCONNECTED
        self._last_report: tuple[ChannelState, str] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start connecting in the background (must be called inside the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._supervise(),
                                                                 name="xmpp-supervisor")

    async def stop(self) -> None:
        """Log out and stop reconnecting."""
        self._stopping = True
        stream = self._stream
        if stream is not None and stream.is_connected():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.disconnect(wait=1.0), 3.0)
        if stream is not None:
            await stream.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    @property
    def connected(self) -> bool:
        return self._session_up

    @property
    def peers(self) -> frozenset[str]:
        """Full JIDs of the other autosync instances we currently notify."""
        return frozenset(self._peers)

    @property
    def stream(self) -> slixmpp.ClientXMPP | None:
        """The current slixmpp stream (diagnostics and tests)."""
        return self._stream

    @property
    def full_jid(self) -> str:
        """Our full JID: as the server bound it once connected, else as requested."""
        stream = self._stream
        if stream is not None and stream.boundjid.resource:
            return str(stream.boundjid.full)
        return f"{self.own_bare}/{self.resource}"

    # ------------------------------------------------------------------ sending
    def notify(self, identity: str, commit: str, shared_with: frozenset[str] = frozenset()
               ) -> int:
        """Tell the peers that sync this repository that we pushed `commit`: our own
        account's other instances and those of the trusted accounts in `shared_with`
        (never every trusted account). Returns how many were sent.

        While disconnected the notice is kept (the newest per repository, for
        PENDING_TTL) and sent to each such peer that shows up after we reconnect."""
        notice = PushNotice(identity=identity, commit=commit, host=self.hostname)
        self._audience[identity] = frozenset(shared_with)
        if not self._session_up or self._stream is None:
            self._pending[identity] = (commit, time.monotonic())
            return 0
        sent = 0
        for peer in sorted(self._peers):
            if self._shares(peer, identity):
                self._send(peer, notice)
                sent += 1
        return sent

    def _shares(self, peer: str, identity: str) -> bool:
        bare = peer.split("/", 1)[0].lower()
        return bare == self.own_bare or bare in self._audience.get(identity, frozenset())

    def _send(self, peer: str, notice: PushNotice) -> None:
        stream = self._stream
        if stream is None:
            return
        message = stream.make_message(mto=peer, mtype="headline")
        message.xml.append(to_element(notice))
        message.send()

    def _flush_pending(self, peer: str) -> None:
        now = time.monotonic()
        for identity, (commit, when) in list(self._pending.items()):
            if now - when > PENDING_TTL:
                del self._pending[identity]
            elif self._shares(peer, identity):
                self._send(peer, PushNotice(identity, commit, self.hostname))

    # ------------------------------------------------------------------ supervision
    def _report(self, state: ChannelState, detail: str) -> None:
        """Tell the listener, once per change (a retry loop does not repeat itself)."""
        if (state, detail) == self._last_report:
            return
        self._last_report = (state, detail)
        self.state = state
        try:
            self.listener.channel_changed(state, detail)
        except Exception:
            log.exception("XMPP listener failed on a state change")

    def _new_stream(self) -> _Stream:
        stream = _Stream(f"{self.own_bare}/{self.resource}", self._password, self.settings)
        stream.register_plugin("xep_0030")  # answer disco#info
        stream.register_plugin("xep_0199")  # answer pings; our keepalive pings the server
        stream.plugin["xep_0030"].add_feature(NAMESPACE)
        stream.auto_authorize = None  # subscription requests: see _on_subscribe
        stream.auto_subscribe = False
        stream.register_handler(Callback(
            "autosync push", MatchXPath(f"{{jabber:client}}message/{TAG}"), self._on_message))
        stream.add_event_handler("session_start", self._on_session_start)
        stream.add_event_handler("presence_available", self._on_available)
        stream.add_event_handler("presence_unavailable", self._on_unavailable)
        stream.add_event_handler("presence_subscribe", self._on_subscribe)
        return stream

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            if self._stream is None:
                self._stream = self._new_stream()
            if failures == 0:  # while retrying, the failure stays the reported state
                self._report(ChannelState.CONNECTING, f"connecting to {where(self.settings)}")
            outcome, detail = await attempt(self._stream, self.settings, self.connect_timeout,
                                            on_attempt=self._count_attempt)
            if outcome is Outcome.SESSION:
                failures = 0
                detail = await self._run_session(self._stream)
                if self._stopping:
                    break
                self._report(ChannelState.DISCONNECTED,
                             f"connection lost ({detail}); reconnecting, polling meanwhile")
            elif outcome is Outcome.AUTH_FAILED:
                self._report(ChannelState.AUTH_FAILED,
                             f"{detail}; not retrying until the password is fixed "
                             "(polling meanwhile)")
                return
            elif outcome is Outcome.STOPPED:
                break
            else:
                state = ChannelState.ERROR if outcome is Outcome.TLS_REFUSED else \
                    ChannelState.DISCONNECTED
                self._report(state, f"{detail}; retrying, polling meanwhile")
            delay = self.backoff.delay(failures)
            failures += 1
            await asyncio.sleep(delay)

    def _count_attempt(self) -> None:
        self.attempts += 1

    async def _run_session(self, stream: _Stream) -> str:
        """Wait until the session ends, pinging the server now and then; returns why."""
        ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_disconnected(reason: object) -> None:
            if not ended.done():
                ended.set_result(one_line(reason) if reason else "closed")

        stream.add_event_handler("disconnected", on_disconnected)
        if not stream.is_connected() and not ended.done():
            ended.set_result("closed")
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(ended), self.keepalive)
                except TimeoutError:
                    if not await self._ping(stream):
                        stream.abort()
                        if not ended.done():
                            ended.set_result("the server stopped answering")
        finally:
            stream.del_event_handler("disconnected", on_disconnected)
            self._session_up = False
            self._peers.clear()

    async def _ping(self, stream: _Stream) -> bool:
        try:
            await stream.plugin["xep_0199"].ping(slixmpp.JID(stream.boundjid.host),
                                                 timeout=self.ping_timeout)
        except IqTimeout:
            return False
        except IqError:
            return True  # an error reply is still an answer
        except Exception:
            log.debug("keepalive ping failed", exc_info=True)
            return False
        return True

    async def _on_session_start(self, _event: object) -> None:
        stream = self._stream
        if stream is None:
            return
        try:
            await stream.get_roster(timeout=10)
        except (IqError, IqTimeout):
            log.debug("XMPP: roster request failed", exc_info=True)
        stream.send_presence(ppriority=PRIORITY)
        for contact in sorted(self.trusted):
            self._ensure_subscribed(stream, contact)
        self._session_up = True
        self._report(ChannelState.CONNECTED, f"connected as {stream.boundjid.full}")
        try:
            self.listener.connected()
        except Exception:
            log.exception("XMPP listener failed after connecting")

    # ------------------------------------------------------------------ presence
    def _is_peer_account(self, bare: str) -> bool:
        return bare == self.own_bare or bare in self.trusted

    def _on_available(self, presence: Any) -> None:
        sender = presence["from"]
        full, bare = str(sender.full), str(sender.bare).lower()
        if full == self.full_jid or not self._is_peer_account(bare):
            return
        if not sender.resource.startswith(RESOURCE_PREFIX):
            return  # a human client: never notified
        if full not in self._peers and len(self._peers) < MAX_PEERS:
            self._peers.add(full)
            if self._pending:
                self._flush_pending(full)

    def _on_unavailable(self, presence: Any) -> None:
        self._peers.discard(str(presence["from"].full))

    def _on_subscribe(self, presence: Any) -> None:
        """Accept subscription requests from trusted accounts only; leave others to the
        user's chat client (not answering keeps the request pending there)."""
        bare = str(presence["from"].bare).lower()
        stream = self._stream
        if stream is None or bare not in self.trusted:
            return
        stream.send_presence(pto=bare, ptype="subscribed")
        self._ensure_subscribed(stream, bare)

    def _ensure_subscribed(self, stream: _Stream, bare: str) -> None:
        """Ask a trusted account for its presence (needed to learn its instances)."""
        item = stream.client_roster[bare]
        if item["subscription"] in ("to", "both") or item["pending_out"]:
            return
        stream.send_presence(pto=bare, ptype="subscribe")

    # ------------------------------------------------------------------ receiving
    def _on_message(self, message: Any) -> None:
        """Vet a push notice: from our own other instances or a trusted account only,
        exactly the format we send; then at most a dictionary lookup in the engine."""
        try:
            if message["type"] == "error":
                return
            sender = message["from"]
            bare = str(sender.bare).lower()
            if str(sender.full) == self.full_jid:
                return
            if not self._is_peer_account(bare):
                log.debug("ignored a push notice from untrusted %s", bare)
                return
            elements = message.xml.findall(TAG)
            if len(elements) != 1:
                return
            notice = from_element(elements[0])
        except PayloadError as exc:
            log.debug("ignored a malformed push notice: %s", exc)
            return
        except Exception:
            log.debug("ignored an unreadable push notice", exc_info=True)
            return
        try:
            self.listener.notice_received(notice, str(sender.full))
        except Exception:
            log.exception("XMPP listener failed on a push notice")


# ---------------------------------------------------------------------------- one attempt

async def attempt(stream: _Stream, settings: XmppSettings, timeout: float,
                  on_attempt: Callable[[], None] | None = None) -> tuple[Outcome, str]:
    """Connect once and negotiate (TLS, login, resource) until the session starts;
    never retries by itself. Returns the outcome and a one-line detail."""
    loop = asyncio.get_running_loop()
    stream.reset_attempt()
    session: asyncio.Future[None] = loop.create_future()
    closed: asyncio.Future[str] = loop.create_future()

    def on_session(_event: object) -> None:
        if not session.done():
            session.set_result(None)

    def on_disconnected(reason: object) -> None:
        if not closed.done():
            closed.set_result(one_line(reason) if reason else "closed")

    stream.add_event_handler("session_start", on_session)
    stream.add_event_handler("disconnected", on_disconnected)
    account = settings.jid
    try:
        if on_attempt is not None:
            on_attempt()
        deadline = loop.time() + timeout
        try:
            result = await asyncio.wait_for(stream.connect(*_address(settings)), timeout)
        except TimeoutError:
            stream.cancel_connection_attempt()
            stream.abort()
            return Outcome.UNREACHABLE, f"no answer from {where(settings)} within {timeout:g} s"
        if isinstance(result, asyncio.Future):  # every address failed; slixmpp rescheduled
            result.cancel()
            stream.cancel_connection_attempt()
            if stream.tls_error:
                return Outcome.TLS_REFUSED, stream.tls_error
            return Outcome.UNREACHABLE, (f"cannot reach {where(settings)}: "
                                         f"{stream.last_error or 'connection failed'}")
        either: set[asyncio.Future[Any]] = {session, closed}
        done, _ = await asyncio.wait(either, timeout=max(0.1, deadline - loop.time()),
                                     return_when=asyncio.FIRST_COMPLETED)
        if session in done:
            return Outcome.SESSION, ""
        if not done:
            stream.abort()
            return Outcome.UNREACHABLE, (f"{where(settings)} accepted the connection but the "
                                         f"login did not finish within {timeout:g} s")
        if stream.auth_failed:
            return Outcome.AUTH_FAILED, f"wrong password or unknown account for {account}"
        if stream.tls_error:
            return Outcome.TLS_REFUSED, stream.tls_error
        return Outcome.UNREACHABLE, f"{where(settings)} closed the connection ({closed.result()})"
    except asyncio.CancelledError:
        stream.cancel_connection_attempt()
        stream.abort()
        raise
    finally:
        stream.del_event_handler("session_start", on_session)
        stream.del_event_handler("disconnected", on_disconnected)


async def test_login(settings: XmppSettings, password: str, timeout: float = 10.0) -> None:
    """Really log in once and out again (for the setup wizard). Raises XmppLoginError with
    a one-line message: wrong password / unknown account, TLS refused, unreachable."""
    stream = _Stream(settings.jid, password, settings)
    try:
        outcome, detail = await attempt(stream, settings, timeout)
        if outcome is Outcome.SESSION:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.disconnect(wait=1.0), timeout)
            return
    finally:
        await stream.close()
    raise XmppLoginError(detail)


test_login.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _address(settings: XmppSettings) -> tuple[str | None, int | None]:
    """(host, port) for slixmpp's connect: None, None means SRV then the domain on 5222;
    a port without a host means the JID's domain on that port."""
    if settings.host:
        return settings.host, settings.port or 5222
    if settings.port:
        return settings.jid.partition("@")[2], settings.port
    return None, None
