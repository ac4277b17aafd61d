"""Test helpers: recording listeners, a plain 'human' XMPP client, awaiting conditions."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from autosync_gui.config import XmppSettings
from autosync_gui.engine.backoff import Backoff
from autosync_gui.engine.events import ChannelState
from autosync_gui.notify.client import NotifyClient
from autosync_gui.notify.payload import PushNotice
from tests.fixtures.waiting import Changed

FAST = Backoff(first=0.1, factor=2.0, cap=0.5)
ROOT = "a" * 40
IDENTITY = f"{ROOT}:main"
COMMIT = "b" * 40


class Recording(Changed):
    """A NotifyListener that records everything."""

    def __init__(self) -> None:
        super().__init__()
        self.notices: list[tuple[PushNotice, str]] = []
        self.states: list[tuple[ChannelState, str]] = []
        self.connects = 0

    def notice_received(self, notice: PushNotice, sender: str) -> None:
        self.notices.append((notice, sender))
        self.pulse()

    def channel_changed(self, state: ChannelState, detail: str) -> None:
        self.states.append((state, detail))
        self.pulse()

    def connected(self) -> None:
        self.connects += 1
        self.pulse()

    def count(self, state: ChannelState) -> int:
        return sum(1 for s, _ in self.states if s is state)


class Instance:
    """One autosync NotifyClient plus its recording listener and a raw message log."""

    def __init__(self, settings: XmppSettings, password: str, host: str,
                 backoff: Backoff = FAST, **options: float) -> None:
        self.rec = Recording()
        options.setdefault("connect_timeout", 5.0)
        self.client = NotifyClient(settings, password, host, self.rec, backoff=backoff,
                                   **options)
        self.raw: list[Any] = []  # every message stanza that reached this instance
        self._raw_stream: object = None

    def start(self) -> None:
        self.client.start()

    async def connected(self, n: int = 1) -> None:
        await self.rec.until(lambda: self.rec.connects >= n, what=f"connect #{n}")
        stream = self.client.stream
        assert stream is not None
        if stream is not self._raw_stream:
            self._raw_stream = stream
            stream.register_handler(Callback("test raw", MatchXPath("{jabber:client}message"),
                                             self._raw))

    def _raw(self, message: Any) -> None:
        self.raw.append(message)
        self.rec.pulse()

    def bodies(self) -> list[str]:
        return [m["body"] for m in self.raw if m["body"]]

    async def sees(self, *others: Instance) -> None:
        want = {o.client.full_jid for o in others}
        await self.rec.until(lambda: want <= self.client.peers,
                             what=f"{self.client.full_jid} seeing {want}")


class Human(slixmpp.ClientXMPP):
    """A plain chat client (like a phone app): priority 5, records every message."""

    def __init__(self, settings: XmppSettings, password: str, resource: str = "phone",
                 priority: int = 5) -> None:
        super().__init__(f"{settings.jid}/{resource}", password)
        self.ssl_context.load_verify_locations(cafile=str(settings.ca_file))
        self.enable_direct_tls = False
        self.settings = settings
        self.priority = priority
        self.changed = Changed()
        self.messages: list[Any] = []
        self.online = asyncio.get_running_loop().create_future()
        self.register_handler(Callback("human raw", MatchXPath("{jabber:client}message"),
                                       self._on_message))
        self.add_event_handler("session_start", self._on_start)

    async def _on_start(self, _event: object) -> None:
        await self.get_roster()
        self.send_presence(ppriority=self.priority)
        if not self.online.done():
            self.online.set_result(None)

    def _on_message(self, message: Any) -> None:
        self.messages.append(message)
        self.changed.pulse()

    async def login(self) -> Human:
        self.connect(self.settings.host, self.settings.port)
        await asyncio.wait_for(self.online, 10)
        return self

    def bodies(self) -> list[str]:
        return [m["body"] for m in self.messages if m["body"]]

    async def logout(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.disconnect(wait=1.0), 3)


def push_xml(identity: str = IDENTITY, commit: str = COMMIT, host: str = "evil") -> str:
    return (f'<push xmlns="urn:autosync:push:0" repo="{identity}" commit="{commit}" '
            f'host="{host}"/>')


def send_raw_message(client: slixmpp.ClientXMPP, to: str, inner: str, mtype: str = "headline",
                     body: str | None = None) -> None:
    """Send a hand-written message stanza (payload XML as text, so anything can be forged)."""
    from xml.etree import ElementTree as ET

    message = client.make_message(mto=to, mtype=mtype, mbody=body)
    if inner:
        message.xml.append(ET.fromstring(inner))
    message.send()
