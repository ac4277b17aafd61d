"""Desktop notifications: org.freedesktop.Notifications on the session bus, else the tray
balloon. Activities are coalesced so a burst of 500 pulled files is one notification,
and filtered by the [ui] notifications level (all / important / none). A large file's
notice carries two buttons (D-Bus actions); a press comes back as `actionInvoked`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from PyQt6.QtCore import QMetaType, QObject, QTimer, QVariant, pyqtSignal, pyqtSlot
from PyQt6.QtDBus import (
    QDBusArgument,
    QDBusConnection,
    QDBusMessage,
    QDBusPendingCallWatcher,
    QDBusPendingReply,
)
from PyQt6.QtWidgets import QSystemTrayIcon

from autosync_gui.engine.events import Activity, ActivityKind
from autosync_gui.engine.safe_paths import display
from autosync_gui.sizes import human_size
from autosync_gui.ui.common import full_time

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
# a large file waits for the user's answer: as important as a conflict
IMPORTANT = (ActivityKind.CONFLICT, ActivityKind.ERROR, ActivityKind.LARGE_FILE)
ORDINARY = (ActivityKind.PULLED,)  # changes from another machine; our own edits are no news
# a large file's notice: D-Bus action key (the engine's choice) -> button text
LARGE_FILE_ACTIONS = {"dont_sync": "Don't sync this file", "sync_anyway": "Sync it anyway"}
SHOW_ACTIVITY = "default"  # clicking the notification itself: the activity window
LARGE_NOTICES = 3  # large files announced one by one in a burst; the rest in one line


@dataclass(frozen=True)
class Message:
    summary: str
    body: str
    urgent: bool
    # what it announces, so it can be replaced by newer news of the same kind and
    # withdrawn once settled: "conflict:FOLDER", "error:FOLDER", "large:FOLDER:FILE",
    # "updated"
    key: str = ""
    folder: Path | None = None
    conflicts: frozenset[str] = frozenset()  # the conflict copies (or paths) it names
    file: str | None = None  # the large file it asks about (repository-relative)
    actions: tuple[tuple[str, str], ...] = ()  # (action key, button text)
    timeout: int = -1  # ms; -1: the server's default, 0: until answered


def _type_id(type_: QMetaType.Type) -> int:
    """The numeric id of a meta type (an int at run time; PyQt6's stubs do not say so)."""
    return cast(int, type_.value)


def _typed(value: object, type_: QMetaType.Type) -> QVariant:
    variant = QVariant(value)
    variant.convert(QMetaType(_type_id(type_)))
    return variant


def _names(paths: list[str], limit: int = 3, total: int | None = None) -> str:
    """Full file names, escaped (never cut at a space), the first `limit` of them
    (`total`: how many there are, when `paths` lists only some)."""
    total = max(total or 0, len(paths))
    shown = ", ".join(display(p) for p in paths[:limit])
    return shown + (f" and {total - limit} more" if total > limit else "")


def _conflict_message(folder: Path, events: list[Activity]) -> Message:
    paths: list[str] = []
    copies: set[str] = set()
    lines: list[str] = []
    for e in events:
        conflict = e.conflict
        path = conflict.path if conflict else (e.files[0] if e.files else e.summary)
        if path not in paths:
            paths.append(path)
        if conflict is not None:
            copies.add(conflict.copy_path or conflict.path)
            if conflict.copy_path:
                kept, other = conflict.kept_host or "unknown", conflict.copy_host or "unknown"
                lines.append(f"{display(conflict.path)}: {kept}'s version "
                             f"({full_time(conflict.kept_time)} by {kept}'s clock) is in "
                             f"place, {other}'s ({full_time(conflict.copy_time)} by {other}'s "
                             f"clock) is in {display(conflict.copy_path)}")
    head = "Conflict" if len(paths) == 1 else f"{len(paths)} conflicts"
    body = (f"Both versions were kept in {folder.name}: {_names(paths)}. Choose one in the "
            "conflicts window.")
    if lines:
        body += "\n" + "\n".join(lines[:3])
    return Message(f"autosync: {head}", body, True, key=f"conflict:{folder}", folder=folder,
                   conflicts=frozenset(copies))


def large_file_text(name: str, size: int) -> str:
    """What history costs: "NAME (1.5 GB) will be kept in history; ..."."""
    return (f"{display(name)} ({human_size(size)}) will be kept in history; every saved "
            f"version adds about {human_size(size)} on the server and on each machine")


def _large_file_messages(events: list[Activity]) -> list[Message]:
    """One notice per new large file, with its two choices (the first few of a burst;
    the rest are named in one more notice, to answer in the activity window)."""
    asked: list[Activity] = []
    for e in events:
        if e.files and all((e.folder, e.files[0]) != (a.folder, a.files[0]) for a in asked):
            asked.append(e)
    messages: list[Message] = []
    for e in asked[:LARGE_NOTICES]:
        folder, name = Path(e.folder), e.files[0]
        messages.append(Message(
            f"autosync: large file in {folder.name}", large_file_text(name, e.size or 0),
            False, key=f"large:{folder}:{name}", folder=folder, file=name,
            actions=(*LARGE_FILE_ACTIONS.items(), (SHOW_ACTIVITY, "Activity")), timeout=0))
    rest = asked[LARGE_NOTICES:]
    if rest:
        names = [e.files[0] for e in rest]
        messages.append(Message("autosync: more large files wait",
                                f"{_names(names)} wait for your choice in the activity "
                                "window (tray menu, Activity…)", False, key="large-more"))
    return messages


def summarize(events: list[Activity]) -> list[Message]:
    """Turn a burst of activities into at most one message per folder and kind of news."""
    messages: list[Message] = []
    by_folder: dict[Path, list[Activity]] = {}
    for e in events:
        if e.kind == ActivityKind.CONFLICT:
            by_folder.setdefault(Path(e.folder), []).append(e)
    for folder, conflicts in by_folder.items():
        messages.append(_conflict_message(folder, conflicts))
    errors: dict[Path, list[Activity]] = {}
    for e in events:
        if e.kind == ActivityKind.ERROR:
            errors.setdefault(Path(e.folder), []).append(e)
    for folder, found in errors.items():
        last = found[-1]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        messages.append(Message(f"autosync: {folder.name} needs attention",
                                display(last.summary) + more, True, key=f"error:{folder}",
                                folder=folder))
    pulled = [e for e in events if e.kind in ORDINARY]
    if pulled:
        files: list[str] = []
        for e in pulled:
            files.extend(e.files)
        hosts = sorted({e.host for e in pulled if e.host})
        who = f" from {', '.join(hosts)}" if hosts else ""
        folders = sorted({Path(e.folder).name for e in pulled})
        count = sum(e.file_count for e in pulled) or len(pulled)
        noun = "file" if count == 1 else "files"
        body = f"{count} {noun} updated{who} in {', '.join(folders)}"
        if files:
            body += f": {_names(files, total=count)}"
        messages.append(Message("autosync: files updated", body, False, key="updated"))
    messages.extend(_large_file_messages([e for e in events
                                          if e.kind == ActivityKind.LARGE_FILE]))
    return messages


class Notifier(QObject):
    """Collects activities for `delay_ms`, then shows one notification per folder and kind
    of news. A newer notification of the same kind replaces the older; `settle` withdraws
    those whose news is settled (conflicts resolved, the folder syncing again)."""

    sent = pyqtSignal(str, str)  # summary, body — after it went out (for logs and tests)
    withdrawn = pyqtSignal(str, int)  # key, notification id — after CloseNotification
    actionInvoked = pyqtSignal(object, str)  # Message, action key — a button was pressed

    def __init__(self, level: str = "all", tray: QSystemTrayIcon | None = None,
                 delay_ms: int = 1500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.level = level
        self.folder_levels: dict[Path, str] = {}  # a folder's own level, over `level`
        self.tray = tray
        self._pending: list[Activity] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)
        self._watchers: set[QDBusPendingCallWatcher] = set()
        self.shown: dict[str, tuple[int, Message]] = {}  # key -> server's id, message
        self.fallback: Callable[[Message], None] | None = None
        bus = QDBusConnection.sessionBus()
        if bus.isConnected():  # the server's answer to a button (only ours are acted on)
            bus.connect(SERVICE, PATH, INTERFACE, "ActionInvoked", "us",
                        self._on_action_invoked)

    def set_level(self, level: str) -> None:
        self.level = level

    def level_of(self, folder: Path) -> str:
        return self.folder_levels.get(Path(folder), self.level)

    def wants(self, event: Activity) -> bool:
        level = self.level_of(Path(event.folder))
        if level == "none":
            return False
        if event.kind in IMPORTANT:
            return True
        return level == "all" and event.kind in ORDINARY

    def activity(self, event: Activity) -> None:
        if not self.wants(event):
            return
        self._pending.append(event)
        if not self._timer.isActive():
            self._timer.start()

    def stop(self) -> None:
        """The app is going: what still waits to be shown is dropped (it would pop up
        after the tray has gone)."""
        self._timer.stop()
        self._pending = []

    def flush(self) -> None:
        self._timer.stop()
        events, self._pending = self._pending, []
        for message in summarize(events):
            self.show(message)

    def settle(self, folder: Path, open_conflicts: set[str], needs_attention: bool,
               large_waiting: set[str] | None = None) -> None:
        """What is still open in `folder`: withdraw its conflict notification once none of
        the conflicts it named is open, its error notification once nothing needs the
        user, a large file's notice once the file waits no more (`large_waiting`: the
        files still waiting; None: not known). Pending news that is settled already is
        dropped too."""
        folder = Path(folder)
        for key, (_ident, message) in list(self.shown.items()):
            if message.folder != folder:
                continue
            if (key.startswith("conflict:") and not message.conflicts & open_conflicts) or \
                    (key.startswith("error:") and not needs_attention) or \
                    (key.startswith("large:") and large_waiting is not None
                     and message.file not in large_waiting):
                self.withdraw(key)
        if not needs_attention:
            self._pending = [e for e in self._pending if not (
                e.kind == ActivityKind.ERROR and Path(e.folder) == folder)]
        if large_waiting is not None:  # answered before its notice went out
            self._pending = [e for e in self._pending if not (
                e.kind == ActivityKind.LARGE_FILE and Path(e.folder) == folder
                and (not e.files or e.files[0] not in large_waiting))]

    def withdraw(self, key: str) -> None:
        """Close the notification shown under `key` (D-Bus CloseNotification)."""
        entry = self.shown.pop(key, None)
        if entry is None:
            return
        ident = entry[0]
        bus = QDBusConnection.sessionBus()
        if ident and bus.isConnected():
            msg = QDBusMessage.createMethodCall(SERVICE, PATH, INTERFACE, "CloseNotification")
            msg.setArguments([_typed(ident, QMetaType.Type.UInt)])
            self._track(bus.asyncCall(msg), lambda _reply: self.withdrawn.emit(key, ident))
        else:
            self.withdrawn.emit(key, ident)

    def show(self, message: Message) -> None:
        """Ask the notification server (asynchronously: a blocking D-Bus call would stall
        the loop); no server or an error reply means the tray balloon."""
        bus = QDBusConnection.sessionBus()
        if bus.isConnected():
            self._notify_dbus(bus, message)
        else:
            self._balloon(message)

    def _track(self, call: object, done: Callable[[QDBusPendingReply], None]) -> None:
        watcher = QDBusPendingCallWatcher(call, self)  # type: ignore[arg-type]
        self._watchers.add(watcher)

        def finished(w: QDBusPendingCallWatcher) -> None:
            self._watchers.discard(w)
            done(QDBusPendingReply(w))
            w.deleteLater()

        watcher.finished.connect(finished)

    def _notify_dbus(self, bus: QDBusConnection, message: Message) -> None:
        # A raw method call: QDBusInterface would introspect the server with a blocking
        # call first, stalling the event loop (and deadlocking an in-process server).
        hints = {"urgency": _typed(2 if message.urgent else 1, QMetaType.Type.UChar),
                 "desktop-entry": "autosync"}
        replaces = self.shown.get(message.key, (0, message))[0] if message.key else 0
        msg = QDBusMessage.createMethodCall(SERVICE, PATH, INTERFACE, "Notify")
        actions = [part for pair in message.actions for part in pair]
        msg.setArguments(["autosync", _typed(replaces, QMetaType.Type.UInt), "autosync",
                          message.summary, message.body,
                          QDBusArgument(actions, _type_id(QMetaType.Type.QStringList)), hints,
                          message.timeout])

        def done(reply: QDBusPendingReply) -> None:
            if reply.isError():
                log.info("no notification server (%s); using the tray", reply.error().name())
                self._balloon(message)
                return
            ident = reply.argumentAt(0)
            if message.key:
                older = self.shown.get(message.key)
                kept = message if older is None else \
                    replace(message, conflicts=message.conflicts | older[1].conflicts)
                self.shown[message.key] = (int(ident) if ident else 0, kept)
            self.sent.emit(message.summary, message.body)

        self._track(bus.asyncCall(msg), done)

    @pyqtSlot(QDBusMessage)
    def _on_action_invoked(self, signal: QDBusMessage) -> None:
        """ActionInvoked(id, action key) from the notification server: a button of one of
        our notifications (ids we did not get back from our own Notify are ignored)."""
        arguments = signal.arguments()
        if len(arguments) != 2:
            return
        ident, action = arguments
        for _key, (shown_id, message) in list(self.shown.items()):
            if shown_id == ident and any(action == key for key, _text in message.actions):
                self.actionInvoked.emit(message, str(action))
                return

    def _balloon(self, message: Message) -> None:
        if message.actions:  # a balloon has no buttons: say where to answer
            message = replace(message, body=f"{message.body}. Choose in the activity window "
                              "(tray menu, Activity…)")
        if self.fallback is not None:
            self.fallback(message)
        elif self.tray is not None and QSystemTrayIcon.supportsMessages():
            icon = QSystemTrayIcon.MessageIcon.Warning if message.urgent else \
                QSystemTrayIcon.MessageIcon.Information
            self.tray.showMessage(message.summary, message.body, icon, 8000)
        else:
            log.info("notification (no server, no tray): %s — %s", message.summary, message.body)
        self.sent.emit(message.summary, message.body)
