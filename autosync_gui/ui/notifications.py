"""Desktop notifications: org.freedesktop.Notifications on the session bus, else the tray
balloon. Activities are coalesced so a burst of 500 pulled files is one notification,
and filtered by the [ui] notifications level (all / important / none)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from PyQt6.QtCore import QMetaType, QObject, QTimer, QVariant, pyqtSignal
from PyQt6.QtDBus import (
    QDBusArgument,
    QDBusConnection,
    QDBusMessage,
    QDBusPendingCallWatcher,
    QDBusPendingReply,
)
from PyQt6.QtWidgets import QSystemTrayIcon

from autosync_gui.engine.events import Activity, ActivityKind

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
IMPORTANT = (ActivityKind.CONFLICT, ActivityKind.ERROR)
ORDINARY = (ActivityKind.PULLED,)  # changes from another machine; our own edits are no news


@dataclass(frozen=True)
class Message:
    summary: str
    body: str
    urgent: bool


def _type_id(type_: QMetaType.Type) -> int:
    """The numeric id of a meta type (an int at run time; PyQt6's stubs do not say so)."""
    return cast(int, type_.value)


def _typed(value: object, type_: QMetaType.Type) -> QVariant:
    variant = QVariant(value)
    variant.convert(QMetaType(_type_id(type_)))
    return variant


def summarize(events: list[Activity]) -> list[Message]:
    """Turn a burst of activities into at most one message per kind of news."""
    messages: list[Message] = []
    conflicts = [e for e in events if e.kind == ActivityKind.CONFLICT]
    errors = [e for e in events if e.kind == ActivityKind.ERROR]
    pulled = [e for e in events if e.kind in ORDINARY]
    if conflicts:
        paths = [e.conflict.path if e.conflict else (e.files[0] if e.files else e.summary)
                 for e in conflicts]
        head = "Conflict" if len(paths) == 1 else f"{len(paths)} conflicts"
        body = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        messages.append(Message(f"autosync: {head}",
                                f"Both versions were kept: {body}. Choose one in the "
                                "conflicts window.", True))
    if errors:
        first = errors[-1]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        messages.append(Message(f"autosync: {Path(first.folder).name} needs attention",
                                first.summary + more, True))
    if pulled:
        files: list[str] = []
        for e in pulled:
            files.extend(e.files)
        hosts = sorted({e.host for e in pulled if e.host})
        who = f" from {', '.join(hosts)}" if hosts else ""
        folders = sorted({Path(e.folder).name for e in pulled})
        count = len(files) or len(pulled)
        noun = "file" if count == 1 else "files"
        shown = ", ".join(f.split(" ", 1)[-1] for f in files[:3]) if files else ""
        body = f"{count} {noun} updated{who} in {', '.join(folders)}"
        if shown:
            body += f": {shown}" + (" …" if len(files) > 3 else "")
        messages.append(Message("autosync: files updated", body, False))
    return messages


class Notifier(QObject):
    """Collects activities for `delay_ms`, then shows one notification per kind."""

    sent = pyqtSignal(str, str)  # summary, body — after it went out (for logs and tests)

    def __init__(self, level: str = "all", tray: QSystemTrayIcon | None = None,
                 delay_ms: int = 1500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.level = level
        self.tray = tray
        self._pending: list[Activity] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)
        self._watchers: set[QDBusPendingCallWatcher] = set()
        self.fallback: Callable[[Message], None] | None = None

    def set_level(self, level: str) -> None:
        self.level = level

    def wants(self, event: Activity) -> bool:
        if self.level == "none":
            return False
        if event.kind in IMPORTANT:
            return True
        return self.level == "all" and event.kind in ORDINARY

    def activity(self, event: Activity) -> None:
        if not self.wants(event):
            return
        self._pending.append(event)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        self._timer.stop()
        events, self._pending = self._pending, []
        for message in summarize(events):
            self.show(message)

    def show(self, message: Message) -> None:
        """Ask the notification server (asynchronously: a blocking D-Bus call would stall
        the loop); no server or an error reply means the tray balloon."""
        bus = QDBusConnection.sessionBus()
        if bus.isConnected():
            self._notify_dbus(bus, message)
        else:
            self._balloon(message)

    def _notify_dbus(self, bus: QDBusConnection, message: Message) -> None:
        # A raw method call: QDBusInterface would introspect the server with a blocking
        # call first, stalling the event loop (and deadlocking an in-process server).
        hints = {"urgency": _typed(2 if message.urgent else 1, QMetaType.Type.UChar),
                 "desktop-entry": "autosync"}
        msg = QDBusMessage.createMethodCall(SERVICE, PATH, INTERFACE, "Notify")
        msg.setArguments(["autosync", _typed(0, QMetaType.Type.UInt), "autosync",
                          message.summary, message.body,
                          QDBusArgument([], _type_id(QMetaType.Type.QStringList)), hints, -1])
        call = bus.asyncCall(msg)
        watcher = QDBusPendingCallWatcher(call, self)
        self._watchers.add(watcher)

        def done(w: QDBusPendingCallWatcher) -> None:
            self._watchers.discard(w)
            reply = QDBusPendingReply(w)
            if reply.isError():
                log.info("no notification server (%s); using the tray", reply.error().name())
                self._balloon(message)
            else:
                self.sent.emit(message.summary, message.body)
            w.deleteLater()

        watcher.finished.connect(done)

    def _balloon(self, message: Message) -> None:
        if self.fallback is not None:
            self.fallback(message)
        elif self.tray is not None and QSystemTrayIcon.supportsMessages():
            icon = QSystemTrayIcon.MessageIcon.Warning if message.urgent else \
                QSystemTrayIcon.MessageIcon.Information
            self.tray.showMessage(message.summary, message.body, icon, 8000)
        else:
            log.info("notification (no server, no tray): %s — %s", message.summary, message.body)
        self.sent.emit(message.summary, message.body)
