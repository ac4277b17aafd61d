"""The XMPP account form (JID, password, optional server) with *Test connection*, shared
by the setup wizard and the settings dialog.

The password goes to the keyring and never into the config. When no keyring backend
works, the form says so and stores the password in a 0600 file only after the user
ticked the box that says what that means; never silently in plaintext."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import ModuleType

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.config import XmppSettings
from autosync_gui.ui.common import ErrorLabel, spawn

log = logging.getLogger(__name__)

LOGIN_TIMEOUT = 10.0
LOGGING_IN = "Logging in to the XMPP server…"
WAITING_FOR_KEYRING = "Waiting for the keyring to be unlocked…"


class FormError(Exception):
    """A problem with what the user typed; str() is shown inline."""


def check_jid(jid: str) -> str:
    jid = jid.strip().lower()
    local, _, domain = jid.partition("@")
    if not local or not domain or "/" in jid or "@" in domain or " " in jid:
        raise FormError(f"JID {jid!r}: must look like alice@example.org (no resource)")
    return jid


async def test_login(settings: XmppSettings, password: str) -> None:
    """Really log in once (the XMPP client module); raises FormError with the reason."""
    try:
        from autosync_gui.notify.client import XmppLoginError
        from autosync_gui.notify.client import test_login as client_test_login
    except ImportError as exc:
        raise FormError(f"XMPP support is not available in this build ({exc})") from None
    try:
        await client_test_login(settings, password, timeout=LOGIN_TIMEOUT)
    except XmppLoginError as exc:
        raise FormError(str(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise FormError(f"XMPP server for {settings.jid}: cannot connect ({exc}); check the "
                        "server name and your network") from None


def _secrets() -> ModuleType:
    """autosync_gui.secrets, imported when first needed (a build may lack keyring)."""
    try:
        from autosync_gui import secrets
    except ImportError as exc:
        raise FormError(f"password storage is not available in this build ({exc})") from None
    return secrets


class XmppForm(QWidget):
    """Fields plus a *Test connection* button; `validate()` is the full check."""

    tested = pyqtSignal(bool, str)  # after *Test connection*: ok, message
    phase = pyqtSignal(str)  # what a check is waiting for right now (shown by the page)

    def __init__(self, current: XmppSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jid = QLineEdit(current.jid if current else "")
        self.jid.setPlaceholderText("alice@example.org")
        self.jid.setObjectName("xmpp_jid")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setObjectName("xmpp_password")
        self.host = QLineEdit(current.host or "" if current else "")
        self.host.setPlaceholderText("optional: server host if not found from the JID")
        self.host.setObjectName("xmpp_host")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("default")
        self.port.setValue(current.port or 0 if current else 0)
        self.port.setObjectName("xmpp_port")
        self.ca_file = QLineEdit(str(current.ca_file) if current and current.ca_file else "")
        self.ca_file.setPlaceholderText("optional: CA certificate of a self-hosted server")
        self.ca_file.setObjectName("xmpp_ca_file")
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("xmpp_test")
        self.test_button.clicked.connect(self._on_test)
        self.status = ErrorLabel()
        self.status.setObjectName("xmpp_status")
        self.no_keyring = ErrorLabel()
        self.no_keyring.setObjectName("xmpp_no_keyring")
        self.file_ok = QCheckBox("Store the password in a file that only you can read "
                                 "(permissions 0600) instead")
        self.file_ok.setObjectName("xmpp_file_ok")
        self.file_ok.hide()
        self._current = current
        self.storage: str | None = None  # "keyring" or "file" once validated
        self._test_task: asyncio.Task[None] | None = None

        form = QFormLayout()
        form.addRow("XMPP account (JID):", self.jid)
        form.addRow("Password:", self.password)
        form.addRow("Server (optional):", self.host)
        form.addRow("Port (optional):", self.port)
        form.addRow("CA certificate (optional):", self.ca_file)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.no_keyring)
        layout.addWidget(self.file_ok)

    # ------------------------------------------------------------------ values
    def is_empty(self) -> bool:
        return not self.jid.text().strip()

    def settings(self) -> XmppSettings:
        jid = check_jid(self.jid.text())
        host = self.host.text().strip() or None
        ca_text = self.ca_file.text().strip()
        ca_file = Path(ca_text).expanduser() if ca_text else None
        if ca_file is not None and not ca_file.is_file():
            raise FormError(f"CA certificate {ca_file}: no such file; fix the path or leave "
                            "it empty")
        keep = self._current if self._current and self._current.jid == jid else None
        return XmppSettings(jid=jid, host=host, port=self.port.value() or None,
                            ca_file=ca_file, trusted=keep.trusted if keep else ())

    # ------------------------------------------------------------------ checks
    def _on_test(self) -> None:
        if self._test_task is not None and not self._test_task.done():
            return
        self._test_task = spawn(self.run_test(), "xmpp-test")

    async def run_test(self) -> None:
        self.test_button.setEnabled(False)
        self.status.info("Connecting…")
        try:
            settings = self.settings()
            if not self.password.text():
                raise FormError("password: empty; enter the XMPP account's password")
            await test_login(settings, self.password.text())
        except FormError as exc:
            self.status.error(str(exc))
            self.tested.emit(False, str(exc))
        else:
            message = f"Logged in as {settings.jid}."
            self.status.info(message)
            self.tested.emit(True, message)
        finally:
            self.test_button.setEnabled(True)

    async def validate(self) -> None:
        """JID, password, a real login, then where the password can go. Raises FormError."""
        settings = self.settings()
        if not self.password.text():
            raise FormError("password: empty; enter the XMPP account's password")
        self.status.info("Logging in to check the password…")
        self.phase.emit(LOGGING_IN)
        await test_login(settings, self.password.text())
        self.status.info(f"Logged in as {settings.jid}.")
        secrets = _secrets()
        # The keyring may show its own unlock (or "choose a password") prompt now: say
        # what we wait for, so a prompt hidden behind a window is looked for.
        self.phase.emit(WAITING_FOR_KEYRING)
        if await asyncio.to_thread(secrets.keyring_available):
            self.storage = "keyring"
            self.no_keyring.clear_message()
            self.file_ok.hide()
            return
        self.no_keyring.error(
            "The keyring is not available (none running, or locked and not unlocked), "
            "so the password cannot go into the keyring. autosync never stores it in a "
            "file without asking: anyone who can read your files, or your backups, could "
            "read it.")
        self.file_ok.show()
        if not self.file_ok.isChecked():
            self.storage = None
            raise FormError("No keyring available (none running, or it is locked): unlock "
                            "it and press Next again, tick the box to store the password in a "
                            "0600 file, start a keyring (e.g. gnome-keyring), or leave the "
                            "XMPP account empty")
        self.storage = "file"

    async def store_password(self) -> str:
        """Store the validated password where validate() decided; returns where."""
        secrets = _secrets()
        jid = self.settings().jid
        password = self.password.text()
        try:
            if self.storage == "keyring":
                self.phase.emit(WAITING_FOR_KEYRING)
                await asyncio.to_thread(secrets.store_xmpp_password, jid, password)
                return "the keyring"
            if self.storage == "file":
                path: Path = await asyncio.to_thread(secrets.store_password_file, jid, password)
                return str(path)
        except secrets.SecretError as exc:
            if self.storage == "keyring":
                # The keyring looked usable but refused the password: offer the explicit
                # file fallback instead of leaving the user stuck.
                self.storage = None
                self.no_keyring.error(f"The keyring refused the password ({exc}). autosync "
                                      "never stores it in a file without asking.")
                self.file_ok.show()
            raise FormError(str(exc)) from None
        raise FormError("the password was not checked yet; press Next again")
