"""The wizard's new set-up pages with real servers: an unknown ssh host shown by its
fingerprint with *Trust this server*, a changed host key refused, an ssh key created and
shown with *Copy*, an https server's user name and token asked for and kept in the real
keyring, an existing repository given a new remote, a clone with progress and Cancel, and
the tray with no folder."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import keyring
from PyQt6.QtWidgets import QApplication, QWizard

from autosync_gui import credentials
from autosync_gui.config import load_config
from autosync_gui.ui.icons import TrayState
from autosync_gui.ui.wizard import Method, PageId
from tests.fixtures.git_daemon import GitDaemon
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.https_git import HttpsGitServer
from tests.fixtures.qt import signal_future, until
from tests.fixtures.sshd import SshServer, _keygen
from tests.ui.test_wizard import choose, first_run, press_next, skip_xmpp_and_finish

TIMEOUT = 30.0


def user_ssh_config(sshd: SshServer, tmp_path: Path, *, known_hosts: Path,
                    identity: Path | None = None) -> str:
    text = sshd.client_config.read_text().replace(
        f"UserKnownHostsFile {sshd.known_hosts}", f"UserKnownHostsFile {known_hosts}")
    if identity is not None:
        text = text.replace(f"IdentityFile {sshd.client_key}", f"IdentityFile {identity}")
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return f"ssh -F {path}"


def host_fingerprint(sshd: SshServer) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(sshd.dir / "host_key.pub")],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


async def test_unknown_host_is_trusted_from_the_wizard(remote: Remote, sshd: SshServer,
                                                       start_app, tmp_path: Path,
                                                       monkeypatch) -> None:
    known = tmp_path / "known_hosts"
    monkeypatch.setenv("GIT_SSH_COMMAND", user_ssh_config(sshd, tmp_path, known_hosts=known))
    app, wizard, config = await first_run(start_app, tmp_path)
    ok, message = await choose(wizard, tmp_path / "Synced", Method.CLONE,
                               sshd.url(remote.bare))
    assert not ok and "host key not trusted" in message
    panel = wizard.method_page.access
    assert panel.isVisible() and panel.trust_button.isVisible()
    assert host_fingerprint(sshd) in panel.explanation.text()
    done = signal_future(wizard.method_page.validated)
    panel.trust_button.click()
    ok, message = await asyncio.wait_for(done, TIMEOUT)
    assert ok, message
    assert wizard.currentId() == PageId.XMPP, "trusted, checked again, moved on"
    assert known.read_text().startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")


async def test_changed_host_key_is_only_a_warning(remote: Remote, sshd: SshServer, start_app,
                                                  tmp_path: Path, monkeypatch) -> None:
    impostor = tmp_path / "impostor"
    _keygen(impostor)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} "
                     + " ".join(impostor.with_suffix(".pub").read_text().split()[:2]) + "\n")
    monkeypatch.setenv("GIT_SSH_COMMAND", user_ssh_config(sshd, tmp_path, known_hosts=known))
    app, wizard, config = await first_run(start_app, tmp_path)
    ok, message = await choose(wizard, tmp_path / "Synced", Method.CLONE,
                               sshd.url(remote.bare))
    assert not ok and "host key CHANGED" in message
    panel = wizard.method_page.access
    assert panel.warning.isVisible() and "may be an attack" in panel.warning.text()
    assert not panel.trust_button.isVisible(), "never offered for one-click acceptance"


async def test_ssh_key_created_copied_and_used(remote: Remote, sshd: SshServer, start_app,
                                               tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    identity = tmp_path / "keys" / "id_ed25519"
    monkeypatch.setenv("GIT_SSH_COMMAND", user_ssh_config(
        sshd, tmp_path, known_hosts=sshd.known_hosts, identity=identity))
    app, wizard, config = await first_run(start_app, tmp_path)
    ok, message = await choose(wizard, tmp_path / "Synced", Method.CLONE,
                               sshd.url(remote.bare))
    assert not ok and "authentication failed" in message and "ssh key" in message
    panel = wizard.method_page.access
    assert panel.create_button.isVisible() and not panel.public_key.isVisible()
    panel.create_button.click()
    await until(lambda: panel.public_key.isVisible(), what="the new key shown")
    public = identity.with_name("id_ed25519.pub").read_text().strip()
    assert panel.public_key.toPlainText() == public
    assert "authorized_keys" in panel.explanation.text()
    panel.copy_button.click()
    assert QApplication.clipboard().text() == public
    sshd.authorize(identity.with_name("id_ed25519.pub"))  # the user pastes it on the server
    ok, message = await press_next(wizard)
    assert ok, message
    assert wizard.currentId() == PageId.XMPP


async def test_https_user_and_token_asked_and_kept_in_the_keyring(
        https_git: HttpsGitServer, gnome_keyring, start_app, tmp_path: Path) -> None:
    bare, url = https_git.new_repository()
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Synced"
    ok, message = await choose(wizard, folder, Method.CLONE, url)
    assert not ok and message.startswith(f"authentication failed for {url}")
    panel = wizard.method_page.access
    assert panel.credentials_form.isVisible()
    panel.user.setText(https_git.user)
    panel.token.setText("not the token")
    ok, message = await press_next(wizard)
    assert not ok and "authentication failed" in message, "a wrong token: one clear line"
    panel.token.setText(https_git.password)
    ok, message = await press_next(wizard)
    assert ok, message
    await skip_xmpp_and_finish(app, wizard)
    assert (folder / "README.txt").exists()
    assert https_git.password not in config.read_text()
    assert https_git.password not in (folder / ".git" / "config").read_text()
    stored = credentials.load(url)
    assert stored is not None and stored.password == https_git.password


async def test_existing_repository_without_remote_gets_one(start_app, tmp_path: Path) -> None:
    folder = tmp_path / "Notes"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "old.txt").write_text("history\n")
    git(folder, "add", "old.txt")
    git(folder, "-c", "user.name=n", "-c", "user.email=n@example.invalid", "commit", "-qm",
        "old")
    app, wizard, config = await first_run(start_app, tmp_path)
    ok, message = await choose(wizard, folder, Method.EXISTING)
    assert not ok and "without a remote" in message
    page = wizard.method_page
    assert page.url.isVisible() and "New bare remote" in page.url_label.text()
    bare = tmp_path / "server" / "notes.git"
    page.url.setText(str(bare))
    ok, message = await press_next(wizard)
    assert ok, message
    assert not bare.exists(), "nothing written before Finish"
    await skip_xmpp_and_finish(app, wizard)
    assert git(bare, "log", "--format=%s", "main").splitlines()[-1] == "old"
    assert [f.path for f in load_config(config).folders] == [folder]


async def test_clone_progress_and_cancel(git_daemon: GitDaemon, start_app,
                                         tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Big"
    ok, message = await choose(wizard, folder, Method.CLONE, git_daemon.url)
    assert ok, message
    ok, message = await press_next(wizard)  # no XMPP account
    assert ok, message
    page = wizard.options_page
    wizard.button(QWizard.WizardButton.FinishButton).click()
    try:
        await until(lambda: "Receiving objects" in page.progress_line.text(), TIMEOUT,
                    what="progress shown")
        assert page.progress.isVisible()
        git_daemon.freeze()  # the clone would hang now: only Cancel ends it
        finished = signal_future(wizard.finished)
        wizard.button(QWizard.WizardButton.CancelButton).click()
        await asyncio.wait_for(finished, 10)
    finally:
        git_daemon.thaw()
    assert not folder.exists(), "what the clone created is gone"
    assert not config.exists()


async def test_tray_without_folder_offers_set_up(start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    wizard.reject()
    await until(lambda: app.wizard is None, what="wizard closed")
    app.tray.refresh()
    assert app.tray.state is TrayState.SETUP
    assert "no folder set up yet" in app.tray.tooltip()
    assert app.tray.setup_action in app.tray.menu.actions()
    app.tray.setup_action.trigger()
    assert app.wizard is not None and app.wizard.isVisible()


async def test_keyring_wait_is_said(remote: Remote, start_app, tmp_path: Path, prosody,
                                    gnome_keyring) -> None:
    from autosync_gui.ui.xmpp_form import LOGGING_IN, WAITING_FOR_KEYRING
    from tests.ui.test_wizard_xmpp import fill

    jid = prosody.register("alice", "right horse")
    app, wizard, config = await first_run(start_app, tmp_path)
    ok, message = await choose(wizard, tmp_path / "Synced", Method.CLONE, remote.url)
    assert ok, message
    phases: list[str] = []
    wizard.xmpp_page.form.phase.connect(phases.append)
    fill(wizard.xmpp_page.form, prosody, jid, "right horse")
    ok, message = await press_next(wizard)
    assert ok, message
    assert phases == [LOGGING_IN, WAITING_FOR_KEYRING]


async def test_new_xmpp_password_in_settings_reconnects_at_once(
        remote: Remote, start_app, tmp_path: Path, prosody, gnome_keyring) -> None:
    from autosync_gui.engine.events import ChannelState
    from tests.ui.helpers import write_config

    jid = prosody.register("alice", "right horse")
    keyring.set_password("autosync", jid, "an old password")
    config = write_config(tmp_path / "config.toml", [remote.clone("a")],
                          xmpp=prosody.settings(jid))
    app = await start_app(config=config)
    await until(lambda: app.tray.channel and app.tray.channel[0] is ChannelState.AUTH_FAILED,
                TIMEOUT, what="the old password refused")
    dialog = app.open_settings()
    dialog.xmpp.password.setText("right horse")
    assert await dialog.save()
    await until(lambda: app.tray.channel and app.tray.channel[0] is ChannelState.CONNECTED,
                TIMEOUT, what="logged in again without a restart")
    assert app.tray.state is not TrayState.ERROR
