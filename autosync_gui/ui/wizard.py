"""The setup wizard (first run and *Add folder…*): folder, how to get the repository,
XMPP account, options. Each page validates in a worker thread before *Next* and shows
an inline message; nothing is written before *Finish*. The git work is in
engine/setup.py (engine/hg/setup.py for Mercurial); this file only asks and shows."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import replace
from enum import IntEnum
from functools import partial
from pathlib import Path

from PyQt6 import sip
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from autosync_gui import credentials
from autosync_gui.config import FolderSettings, Settings, save_config, with_folder
from autosync_gui.engine import setup
from autosync_gui.engine.progress_run import Progress
from autosync_gui.engine.remote import RemoteError
from autosync_gui.ui import autostart
from autosync_gui.ui.common import ErrorLabel, spawn
from autosync_gui.ui.icons import app_icon
from autosync_gui.ui.remote_access import RemoteAccessPanel
from autosync_gui.ui.xmpp_form import FormError, XmppForm

log = logging.getLogger(__name__)


class PageId(IntEnum):
    FOLDER = 0
    METHOD = 1
    XMPP = 2
    OPTIONS = 3


class Method(IntEnum):
    CLONE = 0
    EXISTING = 1
    CREATE = 2


class AsyncPage(QWizardPage):
    """A page whose check may block (git, network): validatePage() starts the check and
    says no; when the check passes the page advances itself. Inputs are remembered so an
    unchanged page is not checked twice."""

    validated = pyqtSignal(bool, str)  # after each check (and after advancing): ok, message

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = ErrorLabel()
        self.message.setObjectName("page_message")
        self._ok_key: object = None
        self._task: asyncio.Task[None] | None = None

    def key(self) -> object:
        """A snapshot of the inputs; a passed check stays valid while it is unchanged."""
        return None

    async def check(self) -> None:
        """Raise setup.SetupError, RemoteError or FormError with a one-line message."""

    def busy_text(self) -> str:
        return "Checking…"

    def cleanupPage(self) -> None:
        """Back was pressed: what this page said about its last check is stale now."""
        self.message.clear_message()
        super().cleanupPage()

    def validatePage(self) -> bool:
        key = self.key()
        if self._ok_key is not None and self._ok_key == key:
            return True
        if self._task is None or self._task.done():
            self._task = spawn(self._run(key), f"validate-{type(self).__name__}")
        return False

    def _set_busy(self, busy: bool) -> None:
        if sip.isdeleted(self):
            return  # the wizard was closed and destroyed while a check ran
        wizard = self.wizard()
        for which in (QWizard.WizardButton.NextButton, QWizard.WizardButton.FinishButton,
                      QWizard.WizardButton.BackButton):
            button = wizard.button(which) if wizard else None
            if button is not None:
                button.setEnabled(not busy)
        # Direct children only: Qt passes the enabled state down to their own children.
        for child in self.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if sip.isdeleted(child) or child is self.message \
                    or isinstance(child, (QLabel, QProgressBar)):
                continue
            child.setEnabled(not busy)
        if busy:
            self.message.info(self.busy_text())

    async def _run(self, key: object) -> None:
        self._set_busy(True)
        ok, text = False, ""
        try:
            await self.check()
            ok = True
        except (setup.SetupError, RemoteError, FormError) as exc:
            text = str(exc)
        except Exception as exc:
            log.exception("wizard check failed")
            text = f"unexpected error: {exc}"
        finally:
            self._set_busy(False)
        if sip.isdeleted(self):
            return
        if not ok:
            self.message.error(text)
            self.validated.emit(False, text)
            return
        self._ok_key = key
        self.message.clear_message()
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            if wizard.nextId() == -1:
                wizard.accept()
            else:
                wizard.next()
        self.validated.emit(True, "")


class FolderPage(AsyncPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Choose the folder to sync")
        self.setSubTitle("Everything in this folder is kept in sync with your other machines.")
        self.path = QLineEdit(str(Path.home() / "Autosync") if wizard.first_run else "")
        self.path.setObjectName("folder_path")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self._dialog: QFileDialog | None = None
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Folder:"))
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addStretch(1)

    def _browse(self) -> None:
        # open() + signal: a modal exec() here would nest an event loop inside qasync's.
        start = self.path.text() or str(Path.home())
        dialog = QFileDialog(self, "Choose the folder to sync", start)
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.path.setText)
        self._dialog = dialog
        dialog.open()

    def folder(self) -> Path:
        return Path(os.path.normpath(Path(self.path.text().strip()).expanduser()))

    def key(self) -> object:
        return self.path.text().strip()

    async def check(self) -> None:
        synced = [f.path for f in self._wizard.settings.folders]
        await asyncio.to_thread(setup.check_folder_choice, Path(self.path.text()), synced)


class MethodPage(AsyncPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Where do the files come from?")
        self.setSubTitle("autosync keeps the folder in a git (or Mercurial) repository and "
                         "pushes it to a remote repository that your other machines also "
                         "use.")
        self.clone = QRadioButton("Clone an existing remote repository into the folder")
        self.existing = QRadioButton("Use the folder as it is: it is already a git or "
                                     "Mercurial work tree with a remote")
        self.create_new = QRadioButton("Create a new repository here and a new bare remote "
                                   "repository, then push the first commit")
        self.group = QButtonGroup(self)
        for i, button in enumerate((self.clone, self.existing, self.create_new)):
            self.group.addButton(button, i)
            button.setObjectName(f"method_{Method(i).name.lower()}")
        self.url_label = QLabel()
        self.url = QLineEdit()
        self.url.setObjectName("remote_url")
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        # A clone and an existing folder say themselves whether they are Mercurial; a new
        # repository is git unless this is ticked.
        self.use_hg = QCheckBox("Use Mercurial (hg) instead of git")
        self.use_hg.setObjectName("create_with_hg")
        self.access = RemoteAccessPanel()
        self.access.resolved.connect(self._check_again)
        self.needs_remote = False  # an existing repository without a remote: make one
        self.group.idToggled.connect(lambda *_: self._update())
        layout = QVBoxLayout(self)
        for button in (self.clone, self.existing, self.create_new):
            layout.addWidget(button)
        layout.addSpacing(8)
        layout.addWidget(self.url_label)
        layout.addWidget(self.url)
        layout.addWidget(self.use_hg)
        layout.addWidget(self.hint)
        layout.addWidget(self.message)
        layout.addWidget(self.access)
        layout.addStretch(1)

    def _check_again(self) -> None:
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            wizard.next()

    def initializePage(self) -> None:
        folder = self._wizard.folder()
        if self.group.checkedId() == -1:
            if (folder / ".git").exists() or (folder / ".hg").is_dir():
                self.existing.setChecked(True)
            elif folder.is_dir() and any(folder.iterdir()):
                self.create_new.setChecked(True)
            else:
                self.clone.setChecked(True)
        self._update()

    def method(self) -> Method:
        return Method(max(self.group.checkedId(), 0))

    def _update(self) -> None:
        method = self.method()
        show_url = method != Method.EXISTING or self.needs_remote
        self.url.setVisible(show_url)
        self.url_label.setVisible(show_url)
        self.use_hg.setVisible(method == Method.CREATE)
        self.access.clear()
        if method == Method.CLONE:
            self.url_label.setText("Remote repository URL (git or Mercurial):")
            self.url.setPlaceholderText("user@server:files.git  or  /media/backup/files.git")
            self.hint.setText("The folder must be empty or not exist yet.")
        elif method == Method.CREATE:
            self.url_label.setText("New bare remote (a path, or user@host:path over SSH; "
                                   "for Mercurial ssh://host/path):")
            self.url.setPlaceholderText("user@server:files.git  or  ~/remote/files.git")
            self.hint.setText("Files already in the folder become the first commit.")
        elif self.needs_remote:
            self.url_label.setText("New bare remote for this repository (a path, or "
                                   "user@host:path over SSH):")
            self.url.setPlaceholderText("user@server:files.git  or  ~/remote/files.git")
            self.hint.setText("Its history is pushed there; files not committed yet become "
                              "one more commit.")
        else:
            self.hint.setText("The current branch and its upstream (or 'origin') are synced.")

    def backend(self) -> str:
        """The version control of a new repository ("git" or "hg")."""
        return "hg" if self.use_hg.isChecked() else "git"

    def key(self) -> object:
        return (str(self._wizard.folder()), self.method(), self.url.text().strip(),
                self.needs_remote, self.backend())

    def busy_text(self) -> str:
        return "Checking the folder and contacting the remote…"

    async def check(self) -> None:
        folder = self._wizard.folder()
        url = self._wizard.remote()
        method = self.method()
        if self.access.wants_credentials():
            given = self.access.credential()
            key = self.access.url
            await asyncio.to_thread(credentials.save, key, given)
            self._wizard.undo.add("forget the credentials given in the wizard",
                                  lambda: credentials.forget(key))
        try:
            if method == Method.CLONE:
                await asyncio.to_thread(setup.check_folder_empty, folder)
                await asyncio.to_thread(setup.check_remote, url)
            elif method == Method.EXISTING and self.needs_remote:
                await asyncio.to_thread(setup.check_add_remote, folder, url)
            elif method == Method.EXISTING:
                try:
                    await asyncio.to_thread(setup.check_existing, folder)
                except setup.NoRemoteError:
                    self.needs_remote = True
                    self._update()
                    raise
            else:
                await asyncio.to_thread(setup.check_create, folder, url,
                                        self.backend())
        except RemoteError as exc:
            await self.access.explain(exc)
            raise
        self.access.clear()


class XmppPage(AsyncPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Tell your other machines at once (XMPP)")
        self.setSubTitle("After each push autosync sends a tiny notice (no file names, no "
                         "content) to your other machines over XMPP so they pull at once. "
                         "Leave the account empty to rely on polling only.")
        self.form = XmppForm(wizard.settings.xmpp)
        self.form.phase.connect(self.message.info)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.message)
        layout.addStretch(1)

    def key(self) -> object:
        f = self.form
        return (f.jid.text().strip(), f.password.text(), f.host.text().strip(),
                f.port.value(), f.ca_file.text().strip(), f.file_ok.isChecked())

    def busy_text(self) -> str:
        return "Logging in to the XMPP server…"

    async def check(self) -> None:
        if self.form.is_empty():
            return
        await self.form.validate()


class OptionsPage(AsyncPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Options")
        self.setSubTitle("The defaults suit most folders.")
        defaults = FolderSettings(path=Path())
        self.ignore = QPlainTextEdit()
        self.ignore.setObjectName("ignore_patterns")
        self.ignore.setPlaceholderText("one pattern per line, as in .gitignore, e.g.\n*.tmp\n"
                                       "build/")
        self.ignore.setMaximumHeight(90)
        self.commit_delay = self._spin(defaults.commit_delay, 0.0, 3600.0, "commit_delay")
        self.push_delay = self._spin(defaults.push_delay, 0.0, 3600.0, "push_delay")
        self.poll_interval = self._spin(defaults.poll_interval, 1.0, 86400.0, "poll_interval")
        self.start_at_login = QCheckBox("Start autosync when I log in")
        self.start_at_login.setObjectName("start_at_login")
        self.start_at_login.setChecked(wizard.first_run or autostart.is_enabled())
        form = QFormLayout()
        form.addRow("Ignore:", self.ignore)
        form.addRow("While changes keep coming, commit after this many\n"
                    "seconds of quiet (a lone save is committed at once):", self.commit_delay)
        form.addRow("Push this many seconds after a commit (0: at once):", self.push_delay)
        form.addRow("Check the remote every (seconds):", self.poll_interval)
        self.progress = QProgressBar()
        self.progress.setObjectName("setup_progress")
        self.progress.hide()
        self.progress_line = QLabel()
        self.progress_line.setObjectName("progress_line")
        self.progress_line.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.start_at_login)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_line)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._action_done: tuple[object, ...] | None = None

    def show_progress(self, progress: Progress) -> None:
        """git's progress line (objects, bytes, rate) and its percentage."""
        self.progress.show()
        self.progress_line.show()
        self.progress_line.setText(progress.line)
        if progress.percent is None:
            return
        self.progress.setRange(0, 100)
        self.progress.setValue(progress.percent)
        self.progress.setFormat(f"{progress.phase} %p%")

    @staticmethod
    def _spin(value: float, lo: float, hi: float, name: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(1)
        spin.setSingleStep(0.5)
        spin.setValue(value)
        spin.setSuffix(" s")
        spin.setObjectName(name)
        return spin

    def folder_settings(self) -> FolderSettings:
        patterns = tuple(line.strip() for line in self.ignore.toPlainText().splitlines()
                         if line.strip() and not line.strip().startswith("#"))
        return FolderSettings(path=self._wizard.folder(),
                              commit_delay=self.commit_delay.value(),
                              push_delay=self.push_delay.value(),
                              poll_interval=self.poll_interval.value(),
                              ignore=patterns)

    def key(self) -> object:
        return (self._wizard.method_page.key(), self.ignore.toPlainText(),
                self.commit_delay.value(), self.push_delay.value(),
                self.poll_interval.value(), self.start_at_login.isChecked())

    def busy_text(self) -> str:
        return "Setting up the folder…"

    async def check(self) -> None:
        """Finish: do the git work, store the password, write the config, autostart."""
        await self._wizard.finish()


class SetupWizard(QWizard):
    """Emits `completed(settings, folder)` after the config was written."""

    completed = pyqtSignal(object, object)  # Settings, FolderSettings

    def __init__(self, settings: Settings, config_path: Path, *, first_run: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.config_path = config_path
        self.first_run = first_run
        self.ask_xmpp = settings.xmpp is None
        self.setWindowTitle("autosync setup" if first_run else "Add a folder to autosync")
        self.setWindowIcon(app_icon())
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setMinimumSize(640, 480)
        self.folder_page = FolderPage(self)
        self.method_page = MethodPage(self)
        self.xmpp_page = XmppPage(self)
        self.options_page = OptionsPage(self)
        self.setPage(PageId.FOLDER, self.folder_page)
        self.setPage(PageId.METHOD, self.method_page)
        self.setPage(PageId.XMPP, self.xmpp_page)
        self.setPage(PageId.OPTIONS, self.options_page)
        self.result_settings: Settings | None = None
        self.result_folder: FolderSettings | None = None
        self.undo = setup.Undo()  # what this wizard made; removed if it is cancelled
        self._cancel: threading.Event | None = None  # set while Finish runs git
        self._closing = False

    def nextId(self) -> int:
        current = self.currentId()
        if current == PageId.METHOD and not self.ask_xmpp:
            return PageId.OPTIONS
        if current == PageId.OPTIONS:
            return -1
        return current + 1

    def folder(self) -> Path:
        return self.folder_page.folder()

    def remote(self) -> str:
        url = self.method_page.url.text().strip()
        if url.startswith("~"):
            url = str(Path(url).expanduser())
        return url

    async def finish(self) -> None:
        folder = self.folder()
        method = self.method_page.method()
        action = (str(folder), method, self.remote(), self.method_page.backend())
        page = self.options_page
        if page._action_done != action:
            loop = asyncio.get_running_loop()
            cancel = self._cancel = threading.Event()

            def progress(p: Progress) -> None:  # called in the worker thread
                loop.call_soon_threadsafe(page.show_progress, p)

            try:
                if method == Method.CLONE:
                    await asyncio.to_thread(partial(setup.clone_remote, self.remote(), folder,
                                                    progress=progress, cancel=cancel))
                elif method == Method.CREATE:
                    await asyncio.to_thread(partial(setup.create_new, folder, self.remote(),
                                                    progress=progress, cancel=cancel,
                                                    backend=self.method_page.backend()))
                elif self.method_page.needs_remote:
                    await asyncio.to_thread(partial(setup.add_remote, folder, self.remote(),
                                                    progress=progress, cancel=cancel))
                else:
                    await asyncio.to_thread(setup.check_existing, folder)
            finally:
                self._cancel = None
                page.progress.hide()
                page.progress_line.hide()
            page._action_done = action
        folder_settings = page.folder_settings()
        new = with_folder(self.settings, folder_settings)
        form = self.xmpp_page.form
        if self.ask_xmpp and not form.is_empty():
            where = await form.store_password()
            log.info("XMPP password for %s stored in %s", form.settings().jid, where)
            new = replace(new, xmpp=form.settings())
        await asyncio.to_thread(save_config, new, self.config_path)
        try:
            await asyncio.to_thread(autostart.set_enabled, page.start_at_login.isChecked(),
                                    self.config_path)
        except OSError as exc:
            log.warning("cannot change the autostart entry: %s", exc)
        self.result_settings = new
        self.result_folder = folder_settings
        self.undo.forget()

    def reject(self) -> None:
        """Cancel: stop a running clone or push at once; what the wizard made is removed
        (set-up steps undo their own work; credentials given here are forgotten)."""
        if self._cancel is not None and not self._closing:
            self._closing = True
            self._cancel.set()
            self.options_page.message.info("Cancelling…")
            task = self.options_page._task
            if task is not None and not task.done():
                task.add_done_callback(lambda _t: self.reject() if self.isVisible() else None)
                return
        self.undo.run()
        super().reject()

    def accept(self) -> None:
        if not self.validateCurrentPage():
            return
        super().accept()
        if self.result_settings is not None and self.result_folder is not None:
            self.completed.emit(self.result_settings, self.result_folder)
