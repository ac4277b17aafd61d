"""The wizard's XMPP page against a real Prosody: Test connection, wrong password, the
password in the real keyring (never in the config), and the no-keyring path."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import keyring

from autosync_gui.config import load_config
from autosync_gui.secrets import password_file
from autosync_gui.ui.wizard import Method, PageId
from tests.fixtures.git_remotes import Remote
from tests.fixtures.qt import signal_future
from tests.ui.test_wizard import choose, first_run, press_next

TIMEOUT = 30.0


async def to_xmpp_page(remote: Remote, start_app, tmp_path: Path):
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Synced"
    ok, message = await choose(wizard, folder, Method.CLONE, remote.url)
    assert ok, message
    assert wizard.currentId() == PageId.XMPP
    return app, wizard, config, folder


def fill(form, prosody, jid: str, password: str) -> None:
    settings = prosody.settings(jid)
    form.jid.setText(jid)
    form.password.setText(password)
    form.host.setText(settings.host)
    form.port.setValue(settings.port)
    form.ca_file.setText(str(settings.ca_file) if settings.ca_file else "")


async def finish(app, wizard):
    assert wizard.currentId() == PageId.OPTIONS
    added = signal_future(app.folderAdded)
    ok, message = await press_next(wizard)
    assert ok, message
    await asyncio.wait_for(added, TIMEOUT)


async def test_test_connection_really_logs_in(remote: Remote, start_app, tmp_path: Path,
                                             prosody) -> None:
    jid = prosody.register("alice", "right horse")
    app, wizard, config, folder = await to_xmpp_page(remote, start_app, tmp_path)
    form = wizard.xmpp_page.form
    fill(form, prosody, jid, "right horse")
    tested = signal_future(form.tested)
    form.test_button.click()
    ok, message = await asyncio.wait_for(tested, TIMEOUT)
    assert ok, message
    assert "Logged in" in form.status.text()
    fill(form, prosody, jid, "wrong")
    tested = signal_future(form.tested)
    form.test_button.click()
    ok, message = await asyncio.wait_for(tested, TIMEOUT)
    assert not ok and form.status.text() == message


async def test_wrong_xmpp_password_blocks_next(gnome_keyring, remote: Remote, start_app,
                                               tmp_path: Path, prosody) -> None:
    jid = prosody.register("alice", "right horse")
    app, wizard, config, folder = await to_xmpp_page(remote, start_app, tmp_path)
    fill(wizard.xmpp_page.form, prosody, jid, "battery staple")
    ok, message = await press_next(wizard)
    assert not ok
    assert message and wizard.xmpp_page.message.text() == message
    assert wizard.currentId() == PageId.XMPP
    assert not config.exists() and not folder.exists()
    assert keyring.get_password("autosync", jid) is None


async def test_password_goes_to_the_keyring_not_the_config(
        gnome_keyring, remote: Remote, start_app, tmp_path: Path, prosody) -> None:
    jid = prosody.register("alice", "right horse")
    app, wizard, config, folder = await to_xmpp_page(remote, start_app, tmp_path)
    fill(wizard.xmpp_page.form, prosody, jid, "right horse")
    ok, message = await press_next(wizard)
    assert ok, message
    await finish(app, wizard)
    assert keyring.get_password("autosync", jid) == "right horse"
    assert "right horse" not in config.read_text()
    settings = load_config(config)
    assert settings.xmpp is not None and settings.xmpp.jid == jid
    assert settings.xmpp.port == prosody.port
    assert not password_file(jid).exists()


async def test_no_keyring_says_so_and_asks_before_a_0600_file(
        no_keyring, remote: Remote, start_app, tmp_path: Path, prosody) -> None:
    jid = prosody.register("alice", "right horse")
    app, wizard, config, folder = await to_xmpp_page(remote, start_app, tmp_path)
    form = wizard.xmpp_page.form
    fill(form, prosody, jid, "right horse")
    ok, message = await press_next(wizard)
    assert not ok, "never silently plaintext"
    assert "No keyring" in message
    assert form.no_keyring.isVisible() and "keyring" in form.no_keyring.text()
    assert form.file_ok.isVisible() and not form.file_ok.isChecked()
    assert wizard.currentId() == PageId.XMPP
    assert not password_file(jid).exists() and not config.exists()
    form.file_ok.setChecked(True)
    ok, message = await press_next(wizard)
    assert ok, message
    assert not password_file(jid).exists(), "nothing written before Finish"
    await finish(app, wizard)
    path = password_file(jid)
    assert path.read_text() == "right horse"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "right horse" not in config.read_text()
