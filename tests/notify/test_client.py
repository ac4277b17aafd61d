"""The XMPP client against a real Prosody on 127.0.0.1: routing, trust, TLS, self-healing.

Ordering barriers instead of sleeps: Prosody delivers one sender's stanzas to one
recipient in order, so when a sender's final 'barrier' message has arrived, everything it
sent before has arrived (or never will)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from autosync_gui.engine.events import ChannelState
from autosync_gui.notify.client import PRIORITY, RESOURCE_PREFIX, XmppLoginError, test_login
from autosync_gui.notify.payload import PushNotice
from tests.notify.helpers import (
    COMMIT,
    IDENTITY,
    Human,
    Instance,
    push_xml,
    send_raw_message,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def instances():
    """instances(settings, password, host) -> a started Instance; all stopped at the end."""
    started: list[Instance] = []
    humans: list[Human] = []

    def make(settings, password, host="host"):
        inst = Instance(settings, password, host)
        inst.start()
        started.append(inst)
        return inst

    make.humans = humans
    yield make
    for inst in started:
        await inst.client.stop()
    for human in humans:
        await human.logout()


async def human(instances, settings, password, **kw) -> Human:
    h = Human(settings, password, **kw)
    instances.humans.append(h)
    return await h.login()


async def test_every_instance_notified_and_human_client_sees_nothing(prosody, instances):
    jid = prosody.register("alice", "pw-Kx7q2Lm")
    s = prosody.settings(jid)
    phone = await human(instances, s, "pw-Kx7q2Lm")  # priority 5: would swallow bare-JID messages
    a, b, c = (instances(s, "pw-Kx7q2Lm", h) for h in ("laptop", "desktop", "server"))
    for inst in (a, b, c):
        await inst.connected()
    await a.sees(b, c)
    assert all(p.partition("/")[2].startswith(RESOURCE_PREFIX) for p in a.client.peers)
    assert a.client.notify(IDENTITY, COMMIT) == 2
    for inst in (b, c):
        await inst.rec.until(lambda inst=inst: inst.rec.notices, what="notice")
        notice, sender = inst.rec.notices[0]
        assert notice == PushNotice(IDENTITY, COMMIT, "laptop")
        assert sender == a.client.full_jid
    # barrier from the same sender (a's stream) to the human client
    send_raw_message(a.client.stream, str(phone.boundjid.full), "", mtype="chat", body="barrier")
    await phone.changed.until(lambda: "barrier" in phone.bodies(), what="barrier")
    assert [m["body"] for m in phone.messages] == ["barrier"], "human client got a notice"
    assert not a.rec.notices  # never notified by itself


async def test_friend_chat_to_bare_jid_is_not_swallowed_by_autosync(prosody, instances):
    alice, bob = prosody.register("alice", "pw-Kx7q2Lm"), prosody.register("bob", "pw-Kx7q2Lm")
    a = instances(prosody.settings(alice), "pw-Kx7q2Lm", "laptop")
    await a.connected()
    friend = await human(instances, prosody.settings(bob), "pw-Kx7q2Lm", resource="chat")
    send_raw_message(friend, alice, "", mtype="chat", body="hi alice")
    send_raw_message(friend, a.client.full_jid, "", mtype="chat", body="barrier")
    await a.rec.until(lambda: "barrier" in a.bodies(), what="barrier")
    assert a.bodies() == ["barrier"], "a chat to the bare JID landed in autosync"
    assert PRIORITY < 0
    # it went to offline storage: the user's phone gets it when it comes online
    phone = await human(instances, prosody.settings(alice), "pw-Kx7q2Lm")
    await phone.changed.until(lambda: "hi alice" in phone.bodies(), what="offline message")


async def test_stranger_and_forged_notices_trigger_nothing(prosody, instances):
    alice, mallory = prosody.register("alice", "pw-Kx7q2Lm"), prosody.register("mallory", "pw-Kx7q2Lm")
    a = instances(prosody.settings(alice), "pw-Kx7q2Lm", "laptop")
    await a.connected()
    evil = await human(instances, prosody.settings(mallory), "pw-Kx7q2Lm", resource="autosync-x-1")
    # a perfectly formed notice, claiming to come from one of alice's hosts
    send_raw_message(evil, a.client.full_jid, push_xml(host="desktop"))
    send_raw_message(evil, a.client.full_jid, push_xml(host="desktop"), mtype="chat")
    send_raw_message(evil, a.client.full_jid, "", mtype="chat", body="barrier")
    await a.rec.until(lambda: "barrier" in a.bodies(), what="barrier")
    assert len(a.raw) == 3  # delivered, and rejected
    assert a.rec.notices == []
    assert f"mallory@{prosody.domain}/autosync-x-1" not in a.client.peers


MALFORMED = [
    push_xml(commit="B" * 40),  # uppercase
    push_xml(commit="b" * 39),
    push_xml(commit="g" * 40),
    push_xml(commit="b" * 41),
    push_xml(identity="../../etc/passwd:main"),
    push_xml(identity=f"{'a' * 40}:main;rm -rf ~"),
    push_xml(identity=f"{'a' * 40}"),
    push_xml(identity=f"{'a' * 40}:" + "x" * 5000),
    push_xml(identity=f"{'a' * 40}:ma..in"),
    push_xml(host="a b"),
    push_xml(host="x" * 65),
    push_xml(host="$(reboot)"),
    push_xml(host="host\u00e9"),
    f'<push xmlns="urn:autosync:push:0" repo="{IDENTITY}" commit="{COMMIT}"/>',
    f'<push xmlns="urn:autosync:push:0" repo="{IDENTITY}" commit="{COMMIT}" host="h" url="file:///x"/>',
    f'<push xmlns="urn:autosync:push:0" repo="{IDENTITY}" commit="{COMMIT}" host="h"><f>a.txt</f></push>',
    f'<push xmlns="urn:autosync:push:0" repo="{IDENTITY}" commit="{COMMIT}" host="h">text</push>',
    f'<push xmlns="urn:autosync:push:1" repo="{IDENTITY}" commit="{COMMIT}" host="h"/>',
    f'<push repo="{IDENTITY}" commit="{COMMIT}" host="h"/>',
]


async def test_malformed_payloads_ignored_without_crash(prosody, instances):
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    s = prosody.settings(alice)
    a = instances(s, "pw-Kx7q2Lm", "laptop")
    await a.connected()
    # the own account is a trusted sender, so only validation stands in the way
    phone = await human(instances, s, "pw-Kx7q2Lm")
    for inner in MALFORMED:
        send_raw_message(phone, a.client.full_jid, inner)
    double = push_xml(host="one") + push_xml(host="two")
    send_raw_message(phone, a.client.full_jid, f"<x xmlns='urn:x'>{double}</x>")
    send_raw_message(phone, a.client.full_jid, push_xml(host="one"), mtype="error")
    send_raw_message(phone, a.client.full_jid, push_xml(host="good"))  # last: the barrier
    await a.rec.until(lambda: a.rec.notices, what="the valid notice")
    assert [n.host for n, _ in a.rec.notices] == ["good"]
    assert a.client.connected


async def test_own_full_jid_ignored(prosody, instances):
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    a = instances(prosody.settings(alice), "pw-Kx7q2Lm", "laptop")
    await a.connected()
    send_raw_message(a.client.stream, a.client.full_jid, push_xml(host="laptop"))
    send_raw_message(a.client.stream, a.client.full_jid, "", mtype="chat", body="barrier")
    await a.rec.until(lambda: "barrier" in a.bodies(), what="barrier")
    assert len(a.raw) == 2 and a.rec.notices == []


async def test_trusted_account_instances_are_notified(prosody, instances):
    alice, bob = prosody.register("alice", "pw-Kx7q2Lm"), prosody.register("bob", "pw-Kx7q2Lm")
    carol = prosody.register("carol", "pw-Kx7q2Lm")
    a = instances(prosody.settings(alice, trusted=(bob,)), "pw-Kx7q2Lm", "alice-laptop")
    b = instances(prosody.settings(bob, trusted=(alice,)), "pw-Kx7q2Lm", "bob-laptop")
    c = instances(prosody.settings(carol, trusted=(alice,)), "pw-Kx7q2Lm", "carol-laptop")
    for inst in (a, b, c):
        await inst.connected()
    # mutual subscription between trusted accounts is set up by the instances themselves
    await a.sees(b)
    await b.sees(a)
    # a notice goes to a trusted account only for a repository shared with it
    assert b.client.notify(IDENTITY, COMMIT) == 0
    assert b.client.notify(IDENTITY, COMMIT, frozenset({alice})) == 1
    await a.rec.until(lambda: a.rec.notices, what="notice from bob")
    assert a.rec.notices[0][0].host == "bob-laptop"
    # carol trusts alice, alice does not trust carol: no subscription, no notices either way
    assert c.client.full_jid not in a.client.peers
    send_raw_message(c.client.stream, a.client.full_jid, push_xml(host="carol-laptop"))
    send_raw_message(c.client.stream, a.client.full_jid, "", mtype="chat", body="barrier")
    await a.rec.until(lambda: "barrier" in a.bodies(), what="barrier")
    assert [n.host for n, _ in a.rec.notices] == ["bob-laptop"]


async def test_reconnects_after_server_restart_and_catches_up(prosody, instances):
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    s = prosody.settings(alice)
    a, b = instances(s, "pw-Kx7q2Lm", "laptop"), instances(s, "pw-Kx7q2Lm", "desktop")
    await a.connected()
    await b.connected()
    await a.sees(b)
    await prosody.astop()
    await a.rec.until(lambda: a.rec.count(ChannelState.DISCONNECTED), what="a disconnected")
    await b.rec.until(lambda: b.rec.count(ChannelState.DISCONNECTED), what="b disconnected")
    assert not a.client.connected and not a.client.peers
    # pushed while the server was down: announced once a peer shows up again
    assert a.client.notify(IDENTITY, COMMIT) == 0
    await prosody.astart()
    await a.connected(2)  # connected() is where the engine fetches every folder
    await b.connected(2)
    await b.rec.until(lambda: b.rec.notices, what="pending notice after reconnect")
    assert b.rec.notices[0][0] == PushNotice(IDENTITY, COMMIT, "laptop")


async def test_dead_connection_noticed_by_keepalive(prosody, instances):
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    a = Instance(prosody.settings(alice), "pw-Kx7q2Lm", "laptop", keepalive=0.3, ping_timeout=0.5,
                 connect_timeout=1.0)
    a.start()
    try:
        await a.connected()
        prosody.freeze()  # the TCP connection stays up, nothing answers any more
        try:
            await a.rec.until(lambda: a.rec.count(ChannelState.DISCONNECTED), what="drop")
        finally:
            prosody.thaw()
        assert "stopped answering" in a.rec.states[-1][1]
        await a.connected(2)
    finally:
        await a.client.stop()


async def test_wrong_password_reported_once_without_reconnect_storm(prosody, instances, caplog):
    caplog.set_level(logging.INFO)
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    connections = prosody.count("Client connected")  # the fixture's readiness probe
    a = instances(prosody.settings(alice), "wrong", "laptop")
    await a.rec.until(lambda: a.rec.count(ChannelState.AUTH_FAILED), what="auth failure")
    task = a.client._task
    assert task is not None
    await asyncio.wait_for(asyncio.shield(task), 5)  # the supervisor gave up for good
    [(_, detail)] = [x for x in a.rec.states if x[0] is ChannelState.AUTH_FAILED]
    assert detail.startswith(f"wrong password or unknown account for {alice}; not retrying")
    assert a.client.attempts == 1
    assert prosody.count("Client connected") == connections + 1  # the server saw one
    assert a.rec.connects == 0
    # the channel report is the one line; nothing else (slixmpp included) adds to it
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_unknown_account_is_an_auth_failure_too(prosody, instances):
    a = instances(prosody.settings(f"nobody@{prosody.domain}"), "pw-Kx7q2Lm", "laptop")
    await a.rec.until(lambda: a.rec.count(ChannelState.AUTH_FAILED), what="auth failure")
    assert a.client.attempts == 1


async def test_plaintext_only_server_refused(prosody_server, instances):
    server = prosody_server(tls=False)
    alice = server.register("alice", "pw-Kx7q2Lm")
    a = instances(server.settings(alice), "pw-Kx7q2Lm", "laptop")
    await a.rec.until(lambda: a.rec.count(ChannelState.ERROR), what="TLS refusal")
    detail = next(d for st, d in a.rec.states if st is ChannelState.ERROR)
    assert "offers no TLS" in detail
    assert a.rec.connects == 0
    assert "Authenticated as" not in server.log_text()  # never logged in in clear
    with pytest.raises(XmppLoginError, match="offers no TLS"):
        await test_login(server.settings(alice), "pw-Kx7q2Lm", timeout=5)
    assert "Authenticated as" not in server.log_text()


async def test_untrusted_certificate_refused(prosody, instances):
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    a = instances(prosody.settings(alice, ca_file=None), "pw-Kx7q2Lm", "laptop")  # system CAs only
    await a.rec.until(lambda: a.rec.count(ChannelState.ERROR), what="certificate refusal")
    detail = next(d for st, d in a.rec.states if st is ChannelState.ERROR)
    assert "not trusted" in detail
    with pytest.raises(XmppLoginError, match="not trusted"):
        await test_login(prosody.settings(alice, ca_file=None), "pw-Kx7q2Lm", timeout=5)


async def test_login_for_the_wizard(prosody):
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    await test_login(prosody.settings(alice), "pw-Kx7q2Lm", timeout=5)
    with pytest.raises(XmppLoginError, match=r"^wrong password or unknown account"):
        await test_login(prosody.settings(alice), "nope", timeout=5)
    await prosody.astop()
    with pytest.raises(XmppLoginError, match=r"^cannot reach 127\.0\.0\.1"):
        await test_login(prosody.settings(alice), "pw-Kx7q2Lm", timeout=5)


async def test_port_without_host_uses_the_jid_domain(prosody_server):
    server = prosody_server(domain="localhost")
    alice = server.register("alice", "pw-Kx7q2Lm")
    await test_login(server.settings(alice, host=None), "pw-Kx7q2Lm", timeout=5)


async def test_password_never_in_debug_log(prosody, caplog):
    import base64
    import logging

    alice = prosody.register("alice", "Pw-0123456789")
    secret_forms = ["Pw-0123456789",
                    base64.b64encode(b"\0alice\0Pw-0123456789").decode()]
    with caplog.at_level(logging.DEBUG, logger="slixmpp"):  # as with `autosync -v`
        await test_login(prosody.settings(alice), "Pw-0123456789", timeout=5)
    assert "xmpp-sasl" in caplog.text  # SASL stanzas were logged ...
    assert not any(s in caplog.text for s in secret_forms)  # ... without their contents
    record = logging.LogRecord("slixmpp.xmlstream.xmlstream", logging.DEBUG, "", 0, "SEND: %s",
                               (f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                                f"mechanism='PLAIN'>{secret_forms[1]}</auth>",), None)
    from autosync_gui.notify.client import SASL_REDACTION
    SASL_REDACTION.filter(record)
    assert secret_forms[1] not in record.getMessage()


@pytest.mark.parametrize(("records", "expected"), [
    # no SRV record: slixmpp returns the bare domain; we use STARTTLS on it (port 5222)
    ([("", "example.org", "192.0.2.1", 5222)], [("xmpp-client", "example.org", "192.0.2.1", 5222)]),
    # SRV records are kept as they are (direct TLS and STARTTLS services)
    ([("xmpps-client", "x.example.org", "192.0.2.2", 5223),
      ("xmpp-client", "y.example.org", "192.0.2.3", 5269)],
     [("xmpps-client", "x.example.org", "192.0.2.2", 5223),
      ("xmpp-client", "y.example.org", "192.0.2.3", 5269)]),
])
async def test_srv_then_domain_on_5222(monkeypatch, records, expected):
    from autosync_gui.config import XmppSettings
    from autosync_gui.notify import client as client_module

    asked = []

    async def fake_resolve(host, port, **kw):
        asked.append((host, port, tuple(sorted(kw["services"]))))
        return records

    monkeypatch.setattr("slixmpp.xmlstream.xmlstream.resolve", fake_resolve)
    stream = client_module._Stream("alice@example.org", "pw-Kx7q2Lm", XmppSettings(jid="alice@example.org"))
    assert await stream.get_dns_records("example.org") == expected
    assert asked == [("example.org", 5222, ("xmpp-client", "xmpps-client"))]
    assert client_module._address(XmppSettings(jid="alice@example.org")) == (None, None)


async def test_a_login_check_or_a_stopped_client_leaves_no_task_behind(prosody):
    """Every check's stream, and a stopped client's, is closed with its tasks: a task left
    pending keeps the stream alive until the garbage collector, which then schedules its
    cancel on whatever loop it had, at any moment (in the suite: inside a Qt call, on a
    closed loop; a worker died of it)."""
    alice = prosody.register("alice", "pw-Kx7q2Lm")
    before = asyncio.all_tasks()
    await test_login(prosody.settings(alice), "pw-Kx7q2Lm", timeout=5)
    with pytest.raises(XmppLoginError, match=r"^wrong password"):
        await test_login(prosody.settings(alice), "nope", timeout=5)
    a = Instance(prosody.settings(alice), "pw-Kx7q2Lm", "laptop")
    a.start()
    await a.connected()
    await a.client.stop()
    assert [t.get_coro().__qualname__ for t in asyncio.all_tasks() - before] == []
