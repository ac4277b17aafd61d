"""The setup wizard, end to end on real repositories: each way to set up a folder and each
validation error (an inline message, nothing written)."""

from __future__ import annotations

import asyncio
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QWizard

from autosync_gui.config import load_config
from autosync_gui.ui import autostart
from autosync_gui.ui.wizard import Method, PageId, SetupWizard
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.hg_remotes import HgRemote, hg
from tests.fixtures.qt import signal_future
from tests.ui.helpers import remote_tree

TIMEOUT = 30.0


async def press_next(wizard: SetupWizard) -> tuple[bool, str]:
    """Press Next (or Finish) and await the page's check."""
    page = wizard.currentPage()
    done = signal_future(page.validated)
    if wizard.nextId() == -1:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    else:
        wizard.button(QWizard.WizardButton.NextButton).click()
    ok, message = await asyncio.wait_for(done, TIMEOUT)
    return ok, message


async def first_run(start_app, tmp_path: Path):
    config = tmp_path / "config.toml"
    app = await start_app(config=config)
    wizard = app.wizard
    assert wizard is not None and wizard.isVisible(), "no config: the wizard opens"
    assert wizard.currentId() == PageId.FOLDER
    return app, wizard, config


async def choose(wizard: SetupWizard, folder: Path, method: Method, url: str = "") -> tuple[bool, str]:
    wizard.folder_page.path.setText(str(folder))
    ok, message = await press_next(wizard)
    assert ok, message
    assert wizard.currentId() == PageId.METHOD
    page = wizard.method_page
    {Method.CLONE: page.clone, Method.EXISTING: page.existing,
     Method.CREATE: page.create_new}[method].setChecked(True)
    page.url.setText(url)
    return await press_next(wizard)


async def skip_xmpp_and_finish(app, wizard: SetupWizard, *, start_at_login: bool = True):
    assert wizard.currentId() == PageId.XMPP
    ok, message = await press_next(wizard)  # no account: polling only
    assert ok, message
    assert wizard.currentId() == PageId.OPTIONS
    wizard.options_page.ignore.setPlainText("*.tmp\nbuild/\n")
    wizard.options_page.start_at_login.setChecked(start_at_login)
    added = signal_future(app.folderAdded)
    ok, message = await press_next(wizard)
    assert ok, message
    (folder_sync,) = await asyncio.wait_for(added, TIMEOUT)
    assert not wizard.isVisible()
    return folder_sync


async def test_clone_path(remote: Remote, start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Synced"
    ok, message = await choose(wizard, folder, Method.CLONE, remote.url)
    assert ok, message
    folder_sync = await skip_xmpp_and_finish(app, wizard)
    assert (folder / "README.txt").read_text() == "shared folder\n"
    settings = load_config(config)
    assert [f.path for f in settings.folders] == [folder]
    assert settings.folders[0].ignore == ("*.tmp", "build/")
    assert settings.xmpp is None
    assert autostart.is_enabled()
    assert "autosync" in autostart.autostart_path().read_text()
    assert folder_sync is app.engine.folder(folder)
    assert (folder, "sync") in app.tray.folder_actions
    # and it syncs
    (folder / "hello.txt").write_text("hi\n")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while "hello.txt" not in remote_tree(remote):
        assert loop.time() < deadline, "the new folder syncs"
        await asyncio.sleep(0.05)


async def test_existing_work_tree_path(remote: Remote, start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = remote.clone("laptop")
    ok, message = await choose(wizard, folder, Method.EXISTING)
    assert ok, message
    await skip_xmpp_and_finish(app, wizard, start_at_login=False)
    assert [f.path for f in load_config(config).folders] == [folder]
    assert not autostart.is_enabled()


async def test_create_new_with_bare_remote(start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Papers"
    folder.mkdir()
    (folder / "thesis.txt").write_text("chapter 1\n")
    bare = tmp_path / "server" / "papers.git"
    ok, message = await choose(wizard, folder, Method.CREATE, str(bare))
    assert ok, message
    assert not bare.exists(), "nothing written before Finish"
    await skip_xmpp_and_finish(app, wizard)
    assert git(bare, "show", "main:thesis.txt") == "chapter 1"
    assert git(folder, "rev-parse", "@{upstream}") == git(bare, "rev-parse", "main")
    assert [f.path for f in load_config(config).folders] == [folder]


async def test_unreachable_remote(start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Synced"
    ok, message = await choose(wizard, folder, Method.CLONE, "ssh://127.0.0.1:1/files.git")
    assert not ok
    assert "unreachable" in message and "127.0.0.1" in message
    assert wizard.currentId() == PageId.METHOD
    assert wizard.method_page.message.isVisible()
    assert wizard.method_page.message.text() == message
    assert not folder.exists() and not config.exists()


async def test_non_empty_folder(remote: Remote, start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Busy"
    folder.mkdir()
    (folder / "mine.txt").write_text("do not clobber\n")
    ok, message = await choose(wizard, folder, Method.CLONE, remote.url)
    assert not ok
    assert "not empty" in message
    assert wizard.currentId() == PageId.METHOD
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]
    assert not config.exists()


@pytest.fixture
def http_remote_needing_auth() -> Iterator[str]:
    """A git smart-HTTP URL whose server answers 401 to everyone."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/files.git"
    server.shutdown()
    server.server_close()


async def test_authentication_failure(start_app, tmp_path: Path, http_remote_needing_auth) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Synced"
    ok, message = await choose(wizard, folder, Method.CLONE, http_remote_needing_auth)
    assert not ok
    assert "authentication failed" in message
    assert wizard.currentId() == PageId.METHOD
    assert not folder.exists() and not config.exists()


async def test_existing_needs_a_work_tree(start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "plain"
    folder.mkdir()
    ok, message = await choose(wizard, folder, Method.EXISTING)
    assert not ok and "not a git work tree" in message
    assert not (folder / ".git").exists()


async def test_create_refuses_a_non_empty_remote(remote: Remote, start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    ok, message = await choose(wizard, tmp_path / "New", Method.CREATE, remote.url)
    assert not ok and "not empty" in message
    assert not (tmp_path / "New").exists()


async def test_add_folder_skips_xmpp_when_configured(remote: Remote, start_app,
                                                     tmp_path: Path) -> None:
    from autosync_gui.config import XmppSettings
    from tests.ui.helpers import write_config

    first = remote.clone("first")
    config = write_config(tmp_path / "config.toml", [first],
                          xmpp=XmppSettings(jid="alice@example.invalid"))
    app = await start_app(config=config)
    assert app.wizard is None, "configured: no wizard at start"
    app.tray.add_action.trigger()
    wizard = app.wizard
    assert wizard is not None and wizard.isVisible()
    second = tmp_path / "Second"
    ok, message = await choose(wizard, second, Method.CLONE, remote.url)
    assert ok, message
    assert wizard.currentId() == PageId.OPTIONS
    added = signal_future(app.folderAdded)
    ok, message = await press_next(wizard)
    assert ok, message
    await asyncio.wait_for(added, TIMEOUT)
    settings = load_config(config)
    assert [f.path for f in settings.folders] == [first, second]
    assert settings.xmpp is not None and settings.xmpp.jid == "alice@example.invalid"


async def test_an_error_goes_when_going_back(start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Synced"
    ok, message = await choose(wizard, folder, Method.CLONE, "ssh://127.0.0.1:1/files.git")
    assert not ok and wizard.method_page.message.isVisible()
    wizard.back()
    assert wizard.currentId() == PageId.FOLDER
    assert not wizard.method_page.message.isVisible()
    assert not wizard.folder_page.message.isVisible()
    wizard.button(QWizard.WizardButton.NextButton).click()  # checked already: advances
    assert wizard.currentId() == PageId.METHOD
    assert not wizard.method_page.message.isVisible(), "no stale error on coming back"


@pytest.mark.skipif(shutil.which("hg") is None, reason="Mercurial is not installed")
async def test_clone_path_for_a_mercurial_remote(hg_remote: HgRemote, start_app,
                                                 tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "HgSync"
    ok, message = await choose(wizard, folder, Method.CLONE, hg_remote.url)
    assert ok, message
    assert not wizard.method_page.use_hg.isVisibleTo(wizard.method_page), \
        "a clone says itself what it is"
    folder_sync = await skip_xmpp_and_finish(app, wizard)
    assert (folder / "README.txt").read_text() == "shared folder\n"
    assert folder_sync.repo.kind == "hg"
    assert [f.path for f in load_config(config).folders] == [folder]


@pytest.mark.skipif(shutil.which("hg") is None, reason="Mercurial is not installed")
async def test_create_new_with_mercurial(start_app, tmp_path: Path) -> None:
    app, wizard, config = await first_run(start_app, tmp_path)
    folder = tmp_path / "Papers"
    folder.mkdir()
    (folder / "thesis.txt").write_text("chapter 1\n")
    remote = tmp_path / "server" / "papers-hg"
    wizard.folder_page.path.setText(str(folder))
    ok, message = await press_next(wizard)
    assert ok, message
    page = wizard.method_page
    page.create_new.setChecked(True)
    assert page.use_hg.isVisibleTo(page)
    page.use_hg.setChecked(True)
    page.url.setText(str(remote))
    ok, message = await press_next(wizard)
    assert ok, message
    assert not remote.exists(), "nothing written before Finish"
    folder_sync = await skip_xmpp_and_finish(app, wizard)
    assert folder_sync.repo.kind == "hg"
    assert hg(remote, "cat", "-r", "tip", "thesis.txt") == "chapter 1"
