"""Glue between the engine and the XMPP client.

Out: every PUSHED activity of a folder that did not opt out becomes a push notice to the
other instances. In: a vetted notice for a repository we sync makes the engine fetch that
folder's configured remote (the engine coalesces and ignores commits it has). After every
(re)connect the engine catches up on every folder; while disconnected, polling carries on.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from autosync_gui.config import XmppSettings
from autosync_gui.engine.backoff import Backoff
from autosync_gui.engine.engine import Engine
from autosync_gui.engine.events import Activity, ActivityKind, ChannelState, FolderState
from autosync_gui.engine.safe_paths import display
from autosync_gui.notify.client import NotifyClient
from autosync_gui.notify.payload import PayloadError, PushNotice
from autosync_gui.secrets import SecretError, get_xmpp_password

log = logging.getLogger(__name__)

CHANNEL = "xmpp"


class NotificationService:
    """Subscribed to the engine; owns the one XMPP connection of the account."""

    def __init__(self, engine: Engine, settings: XmppSettings, password: str, *,
                 backoff: Backoff | None = None, connect_timeout: float = 20.0) -> None:
        self.engine = engine
        self.settings = settings
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self.client = NotifyClient(settings, password, engine.hostname, _Listener(self),
                                   backoff=backoff, connect_timeout=connect_timeout)
        self._last: dict[str, str] = {}  # identity -> last commit acted on (flood guard)
        self._unsubscribe = engine.subscribe(self)

    def start(self) -> None:
        self.client.start()

    async def restart(self, password: str | None = None) -> None:
        """Log in again, e.g. after the user fixed the password (an authentication failure
        is never retried by itself). Without `password`, it is looked up again."""
        if password is None:
            password = await asyncio.to_thread(get_xmpp_password, self.settings.jid,
                                               self.settings.legacy_password)
        await self.client.stop()
        self.client = NotifyClient(self.settings, password, self.engine.hostname,
                                   _Listener(self), backoff=self._backoff,
                                   connect_timeout=self._connect_timeout)
        self.client.start()

    async def stop(self) -> None:
        """Log out and stop listening to the engine."""
        self._unsubscribe()
        await self.client.stop()

    # ------------------------------------------------------------ engine observer
    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None:
        """Folder states do not concern the notifier."""

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None:
        """Our own reports come back here; nothing to do."""

    def activity(self, event: Activity) -> None:
        """After a push, tell the other instances (unless the folder opted out)."""
        if event.kind is not ActivityKind.PUSHED or not event.commit:
            return
        try:
            folder = self.engine.folder(event.folder)
        except KeyError:
            return
        identity = folder.identity
        if identity is None or not folder.settings.notify:
            return
        try:
            sent = self.client.notify(identity, event.commit,
                                      frozenset(folder.settings.share_with))
        except PayloadError as exc:  # e.g. a branch name our format does not carry
            log.warning("%s: cannot announce this push over XMPP: %s", event.folder, exc)
            return
        log.debug("%s: push of %s announced to %d instance(s)", event.folder,
                  event.commit[:10], sent)

    # ------------------------------------------------------------ client listener
    def notice_received(self, notice: PushNotice, sender: str) -> None:
        """A vetted notice: fetch the matching folders' configured remote, nothing else."""
        account = sender.split("/", 1)[0].lower()
        own = account == self.settings.jid.lower()
        folders = [f for f in self.engine.folders
                   if f.identity == notice.identity and f.settings.notify
                   and (own or account in f.settings.share_with)]
        if not folders:
            return  # not a repository we sync with that account (or opted out)
        if self._last.get(notice.identity) == notice.commit:
            return  # the same notice again: the fetch is already scheduled
        self._last[notice.identity] = notice.commit
        if not self.engine.remote_changed(notice.identity, notice.commit,
                                          paths=[Path(f.settings.path) for f in folders]):
            return
        # The sender's account is what the server vouches for; the host named inside the
        # notice is only what the sender claims, so it is shown as such.
        who = "another instance of this account" if own else account
        for folder in folders:
            self.engine.hub.activity(Activity(
                folder=Path(folder.settings.path), kind=ActivityKind.NOTIFIED,
                summary=f"notified by {who} (says it is {display(notice.host)})",
                commit=notice.commit))

    def connected(self) -> None:
        """Catch up on whatever was pushed while we were not listening."""
        self.engine.fetch_all()


class _Listener:
    """The client's listener interface, forwarded to the service (whose own
    channel_changed is the engine observer's, with a different signature)."""

    def __init__(self, service: NotificationService) -> None:
        self.service = service

    def notice_received(self, notice: PushNotice, sender: str) -> None:
        self.service.notice_received(notice, sender)

    def channel_changed(self, state: ChannelState, detail: str) -> None:
        self.service.engine.hub.channel_changed(CHANNEL, state, detail)

    def connected(self) -> None:
        self.service.connected()


class DisabledService:
    """Returned when XMPP cannot start (no password): the engine keeps polling."""

    async def stop(self) -> None:
        """Nothing runs."""


async def start_notification_service(engine: Engine, settings: XmppSettings, *,
                                     password: str | None = None,
                                     backoff: Backoff | None = None
                                     ) -> NotificationService | DisabledService:
    """Start the notifier inside the running loop; returns an object with `async stop()`.

    Without a password (keyring, AUTOSYNC_XMPP_PASSWORD, password file, legacy INI) it
    reports the channel as failed (one line) and returns a no-op service."""
    if password is None:
        try:  # the keyring talks D-Bus (and may start a keyring daemon): off the loop
            password = await asyncio.to_thread(get_xmpp_password, settings.jid,
                                               settings.legacy_password)
        except SecretError as exc:
            # One line: the channel report (the headless log and the tray show it). No
            # password, or a keyring that cannot be read, is not a failed login: the
            # server was never asked.
            engine.hub.channel_changed(CHANNEL, ChannelState.ERROR,
                                       f"{exc}; XMPP disabled, polling only")
            return DisabledService()
    service = NotificationService(engine, settings, password, backoff=backoff)
    service.start()
    return service
