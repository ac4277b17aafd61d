"""End to end: real engines, one bare remote, a real Prosody, poll_interval = 3600 s, so
whatever reaches the other replica was carried by the XMPP notice (or the reconnect
catch-up), not by polling."""

from __future__ import annotations

import logging
from dataclasses import replace

import keyring
import pytest
from keyring.backends import fail
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from autosync_gui.config import XmppSettings
from autosync_gui.engine.events import ActivityKind, ChannelState
from autosync_gui.engine.headless_log import HeadlessLog
from autosync_gui.notify.service import (
    DisabledService,
    NotificationService,
    start_notification_service,
)
from tests.fixtures.engine_harness import folder_settings
from tests.fixtures.files import bytes_unless_aside
from tests.notify.helpers import FAST, Instance, send_raw_message

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def notifiers(start_engine):
    """notifiers(engine, settings, password=...) -> a started service; stopped before the
    engines (this fixture depends on start_engine, so it is torn down first)."""
    started: list[object] = []

    async def make(engine, settings, password="pw-Kx7q2Lm"):
        service = await start_notification_service(engine, settings, password=password,
                                                   backoff=FAST)
        started.append(service)
        return service

    yield make
    for service in started:
        await service.stop()


def xmpp_states(rec):
    return [state for channel, state, _ in rec.channels if channel == "xmpp"]


async def two_replicas(prosody, remote, start_engine, notifiers, **folder_a):
    jid = prosody.register("alice", "pw-Kx7q2Lm")
    a_dir, b_dir = remote.clone("a"), remote.clone("b")
    ea, ra = await start_engine(a_dir, hostname="laptop", **folder_a)
    eb, rb = await start_engine(b_dir, hostname="desktop")
    sa = await notifiers(ea, prosody.settings(jid))
    sb = await notifiers(eb, prosody.settings(jid))
    for rec in (ra, rb):
        await rec.until(lambda rec=rec: ChannelState.CONNECTED in xmpp_states(rec),
                        what="xmpp connected")
    await ra.until(lambda: sb.client.full_jid in sa.client.peers, what="a sees b")
    await rb.until(lambda: sa.client.full_jid in sb.client.peers, what="b sees a")
    return a_dir, b_dir, (ea, ra, sa), (eb, rb, sb)


async def test_file_written_on_a_appears_on_b(prosody, remote, start_engine, notifiers):
    a_dir, b_dir, (ea, ra, sa), (eb, rb, sb) = await two_replicas(
        prosody, remote, start_engine, notifiers)
    assert isinstance(sa, NotificationService)
    (a_dir / "doc.txt").write_text("from a\n")
    await rb.until(lambda: bytes_unless_aside(b_dir / "doc.txt") == b"from a\n",
                   what="doc.txt on b")
    [pushed] = ra.of(ActivityKind.PUSHED, a_dir)
    notified = rb.of(ActivityKind.NOTIFIED, b_dir)
    assert [(n.host, n.commit, n.summary) for n in notified] == [
        (None, pushed.commit, "notified by another instance of this account (says it is laptop)")]
    assert eb.folder(b_dir).identity == ea.folder(a_dir).identity


async def test_notice_for_unknown_repository_or_opted_out_folder_does_nothing(
        prosody, remote, start_engine, notifiers):
    a_dir, b_dir, (ea, ra, sa), (eb, rb, sb) = await two_replicas(
        prosody, remote, start_engine, notifiers, notify=False)
    # a opted out: its push is not announced
    (a_dir / "quiet.txt").write_text("x\n")
    await ra.until(lambda: ra.of(ActivityKind.PUSHED, a_dir), what="push on a")
    # a notice about a repository b does not sync, then a real one (same sender: in order)
    sa.client.notify("f" * 40 + ":main", "e" * 40)
    sa.client.notify(eb.folder(b_dir).identity, ra.of(ActivityKind.PUSHED, a_dir)[0].commit)
    await rb.until(lambda: rb.of(ActivityKind.NOTIFIED, b_dir), what="the real notice")
    assert len(rb.of(ActivityKind.NOTIFIED)) == 1
    assert list(sb._last) == [eb.folder(b_dir).identity]
    await rb.until(lambda: (b_dir / "quiet.txt").exists(), what="quiet.txt on b")


async def test_flood_of_notices_does_one_lookup_each(prosody, remote, start_engine, notifiers):
    a_dir, b_dir, (ea, ra, sa), (eb, rb, sb) = await two_replicas(
        prosody, remote, start_engine, notifiers)
    identity = eb.folder(b_dir).identity
    calls = []
    real = eb.remote_changed
    eb.remote_changed = lambda *args, **kw: calls.append(args) or real(*args, **kw)
    for _ in range(200):
        sa.client.notify(identity, remote.head())
    sa.client.notify(identity, "c" * 40)  # the last one differs: the barrier
    await rb.until(lambda: len(calls) == 2, what="both distinct notices")
    assert [c[1] for c in calls] == [remote.head(), "c" * 40]


async def test_server_restart_reconnects_and_catches_up(prosody, remote, start_engine,
                                                       notifiers):
    a_dir, b_dir, (ea, ra, sa), (eb, rb, sb) = await two_replicas(
        prosody, remote, start_engine, notifiers)
    await prosody.astop()
    for rec in (ra, rb):
        await rec.until(lambda rec=rec: ChannelState.DISCONNECTED in xmpp_states(rec),
                        what="disconnected")
    (a_dir / "while-down.txt").write_text("pushed while the server was down\n")
    await ra.until(lambda: ra.of(ActivityKind.PUSHED, a_dir), what="push while down")
    assert not (b_dir / "while-down.txt").exists()
    await prosody.astart()
    await rb.until(lambda: xmpp_states(rb).count(ChannelState.CONNECTED) == 2,
                   what="b reconnected")
    await rb.until(lambda: (b_dir / "while-down.txt").exists(), what="catch-up on b")


async def test_catch_up_fetch_after_every_connect(prosody, remote, start_engine, notifiers):
    """The catch-up alone (no notice at all) brings what was pushed while b was offline."""
    jid = prosody.register("alice", "pw-Kx7q2Lm")
    a_dir, b_dir = remote.clone("a"), remote.clone("b")
    eb, rb = await start_engine(b_dir, hostname="desktop")
    ea, ra = await start_engine(a_dir, hostname="laptop")
    (a_dir / "early.txt").write_text("before any xmpp\n")
    await ra.until(lambda: ra.of(ActivityKind.PUSHED, a_dir), what="push")
    await notifiers(eb, prosody.settings(jid))
    await rb.until(lambda: (b_dir / "early.txt").exists(), what="catch-up after connect")
    assert not rb.of(ActivityKind.NOTIFIED)


async def test_no_password_keeps_polling_with_one_error(remote, start_engine, monkeypatch,
                                                       caplog):
    monkeypatch.delenv("AUTOSYNC_XMPP_PASSWORD", raising=False)
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        engine, rec = await start_engine(remote.clone("a"))
        engine.subscribe(HeadlessLog())
        with caplog.at_level(logging.INFO):
            service = await start_notification_service(
                engine, XmppSettings(jid="alice@example.org"))
        assert isinstance(service, DisabledService)
        await service.stop()
    finally:
        keyring.set_keyring(before)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert "AUTOSYNC_XMPP_PASSWORD" in lines[0] and "polling only" in lines[0]
    assert xmpp_states(rec) == [ChannelState.ERROR], "the keyring, not a failed login"
    assert "authentication failed" not in lines[0]
    assert engine.folders[0].state is not None  # the engine runs on


async def test_password_from_environment(prosody, remote, start_engine, monkeypatch):
    jid = prosody.register("alice", "s3cret")
    monkeypatch.setenv("AUTOSYNC_XMPP_PASSWORD", "s3cret")
    engine, rec = await start_engine(remote.clone("a"))
    service = await start_notification_service(engine, prosody.settings(jid))
    try:
        await rec.until(lambda: ChannelState.CONNECTED in xmpp_states(rec), what="connected")
        assert "s3cret" not in "".join(d for _, _, d in rec.channels)
    finally:
        await service.stop()


async def test_stranger_cannot_trigger_a_fetch(prosody, remote, start_engine, notifiers):
    alice, mallory = prosody.register("alice", "pw-Kx7q2Lm"), prosody.register("mallory", "pw-Kx7q2Lm")
    b_dir = remote.clone("b")
    eb, rb = await start_engine(b_dir, hostname="desktop")
    sb = await notifiers(eb, prosody.settings(alice))
    await rb.until(lambda: ChannelState.CONNECTED in xmpp_states(rb), what="connected")
    calls = []
    eb.remote_changed = lambda *args, **kw: calls.append(args) or True
    raw = []
    sb.client.stream.register_handler(Callback(
        "test raw", MatchXPath("{jabber:client}message"), raw.append))
    evil = Instance(prosody.settings(mallory), "pw-Kx7q2Lm", "laptop")  # a real autosync client
    evil.start()
    try:
        await evil.connected()
        evil.client._peers.add(sb.client.full_jid)  # it learnt alice's full JID somehow
        assert evil.client.notify(eb.folder(b_dir).identity, "d" * 40,
                                  frozenset({alice})) == 1
        send_raw_message(evil.client.stream, sb.client.full_jid, "", "chat", body="barrier")
        await rb.until(lambda: any(m["body"] == "barrier" for m in raw), what="barrier")
        assert len(raw) == 2  # the notice was delivered, and dropped
        assert calls == [] and not rb.of(ActivityKind.NOTIFIED)
    finally:
        await evil.client.stop()


async def test_restart_after_the_password_was_fixed(prosody, remote, start_engine, notifiers):
    jid = prosody.register("alice", "right")
    engine, rec = await start_engine(remote.clone("a"))
    service = await notifiers(engine, prosody.settings(jid), password="wrong")
    await rec.until(lambda: ChannelState.AUTH_FAILED in xmpp_states(rec), what="auth failure")
    await service.restart("right")
    await rec.until(lambda: ChannelState.CONNECTED in xmpp_states(rec), what="connected")
    assert service.client.attempts == 1


async def test_notices_only_for_folders_shared_with_that_account(prosody, remote,
                                                                  start_engine, notifiers):
    """A trusted account's notices make a folder pull only when the folder names that
    account in share_with (and our notices reach it only for such folders)."""
    alice, bob = prosody.register("alice", "pw-Kx7q2Lm"), prosody.register("bob", "pw-Kx7q2Lm")
    shared, private, b_dir = remote.clone("shared"), remote.clone("private"), remote.clone("b")
    ea, ra = await start_engine(shared, hostname="laptop")
    await ea.add_folder(folder_settings(private))
    ea.folder(shared).settings = replace(ea.folder(shared).settings, share_with=(bob,))
    eb, rb = await start_engine(b_dir, hostname="desktop", share_with=(alice,))
    sa = await notifiers(ea, prosody.settings(alice, trusted=(bob,)))
    sb = await notifiers(eb, prosody.settings(bob, trusted=(alice,)))
    await rb.until(lambda: sa.client.full_jid in sb.client.peers, timeout=20, what="b sees a")
    await ra.until(lambda: sb.client.full_jid in sa.client.peers, timeout=20, what="a sees b")
    identity = ea.folder(private).identity
    assert sa.client.notify(identity, "e" * 40) == 0  # not shared: bob is not told
    assert sa.client.notify(identity, "e" * 40, frozenset({bob})) == 1
    (b_dir / "from-b.txt").write_text("bob shares this folder with alice\n")
    await ra.until(lambda: ra.of(ActivityKind.NOTIFIED, shared), timeout=20,
                   what="the shared folder notified")
    assert not ra.of(ActivityKind.NOTIFIED, private)  # same repository, not shared with bob
    assert "bob@" in ra.of(ActivityKind.NOTIFIED, shared)[0].summary
