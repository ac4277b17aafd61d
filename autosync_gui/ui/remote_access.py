"""What the wizard offers when the remote does not let us in, so that no terminal is
needed: an unknown ssh server's fingerprint with *Trust this server*; a changed host key
as a warning only; the ssh key to paste on the server, with *Copy* (and *Create a key*
when there is none); user name and token fields when an https server asks for them.

Only asks and shows: the work is in engine/ssh_setup.py and credentials.py."""

from __future__ import annotations

import asyncio
import logging

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.credentials import Credential
from autosync_gui.engine import ssh_setup
from autosync_gui.engine.remote import RemoteError, RemoteProblem, Transport, parse_remote
from autosync_gui.ui.common import ErrorLabel, spawn

log = logging.getLogger(__name__)

WHERE_TO_PASTE = ("Add it on the server: a line in ~/.ssh/authorized_keys of the account "
                  "you log in as; for gitolite, keydir/YOURNAME.pub in gitolite-admin; on "
                  "Gitea, Forgejo, GitLab or GitHub, Settings → SSH keys. Then press Next "
                  "again.")


class RemoteAccessPanel(QWidget):
    """Shown under the remote URL when a check failed for a reason the user can fix
    here. `resolved` asks the page to check again (after *Trust this server*)."""

    resolved = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("remote_access")
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.explanation.setObjectName("access_explanation")
        self.warning = ErrorLabel()
        self.warning.setObjectName("access_warning")
        # host key
        self.trust_button = QPushButton("Trust this server")
        self.trust_button.setObjectName("trust_host")
        self.trust_button.clicked.connect(self._on_trust)
        # ssh key
        self.public_key = QPlainTextEdit()
        self.public_key.setObjectName("public_key")
        self.public_key.setReadOnly(True)
        self.public_key.setMaximumHeight(60)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copy_key")
        self.copy_button.clicked.connect(self._on_copy)
        self.create_button = QPushButton("Create a key")
        self.create_button.setObjectName("create_key")
        self.create_button.clicked.connect(self._on_create)
        # https
        self.user = QLineEdit()
        self.user.setObjectName("https_user")
        self.token = QLineEdit()
        self.token.setObjectName("https_token")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.credentials_form = QWidget()
        form = QFormLayout(self.credentials_form)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("User name:", self.user)
        form.addRow("Password or token:", self.token)
        buttons = QHBoxLayout()
        for button in (self.trust_button, self.copy_button, self.create_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.explanation)
        layout.addWidget(self.warning)
        layout.addWidget(self.public_key)
        layout.addWidget(self.credentials_form)
        layout.addLayout(buttons)
        self._check: ssh_setup.HostCheck | None = None
        self._target: ssh_setup.SshTarget | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""
        self.clear()

    # ------------------------------------------------------------------ state
    def clear(self) -> None:
        """Nothing to offer (the remote let us in, or another problem)."""
        for widget in (self.explanation, self.public_key, self.credentials_form,
                       self.trust_button, self.copy_button, self.create_button):
            widget.hide()
        self.warning.clear_message()
        self._check = None
        self.hide()

    def wants_credentials(self) -> bool:
        return self.credentials_form.isVisible() and bool(self.user.text().strip()) \
            and bool(self.token.text())

    def credential(self) -> Credential:
        return Credential(self.user.text().strip(), self.token.text())

    async def explain(self, exc: RemoteError) -> None:
        """Offer what fixes `exc`, if anything here can (blocking parts in a thread)."""
        self.clear()
        self.url = exc.url
        address = parse_remote(exc.url)
        try:
            if exc.problem is RemoteProblem.HOST_KEY_UNKNOWN and address.host:
                check = await asyncio.to_thread(ssh_setup.check_host, address.host,
                                                address.port)
                self._show_host(check)
            elif exc.problem is RemoteProblem.HOST_KEY_CHANGED and address.host:
                check = await asyncio.to_thread(ssh_setup.check_host, address.host,
                                                address.port)
                if check.state is ssh_setup.HostKeyState.CHANGED:
                    self.warning.error(ssh_setup.changed_warning(check))
                    self.show()
            elif exc.problem is RemoteProblem.AUTH and address.transport is Transport.SSH:
                target = await asyncio.to_thread(ssh_setup.resolve, address.host or "")
                keys = await asyncio.to_thread(ssh_setup.public_keys, target)
                self._target = target
                self._show_key(keys[0] if keys else None)
            elif exc.problem is RemoteProblem.AUTH and address.transport is Transport.HTTPS:
                self.explanation.setText(f"{address.host} asks for a user name and a "
                                         "password or access token. They are kept in your "
                                         "keyring, never in a file.")
                if address.user and not self.user.text():
                    self.user.setText(address.user)
                self.explanation.show()
                self.credentials_form.show()
                self.show()
        except (ssh_setup.SshSetupError, OSError) as exc2:
            log.info("cannot offer a fix for %s: %s", exc.url, exc2)

    def _show_host(self, check: ssh_setup.HostCheck) -> None:
        self._check = check
        target, key = check.target, check.offered
        self.explanation.setText(
            f"The server {target.alias} ({target.hostname}, port {target.port}) is not "
            f"known yet. It presents this {key.short_type} key:\n{key.fingerprint}\n"
            "Compare it with the fingerprint the server's admin gives you; trust it only "
            "if they are the same.")
        self.explanation.show()
        self.trust_button.show()
        self.show()

    def _show_key(self, key: ssh_setup.PublicKey | None) -> None:
        if key is None:
            self.explanation.setText("The server did not let you in, and you have no ssh "
                                     "key yet. Create one (ed25519, in ~/.ssh), then add "
                                     "it on the server.")
            self.create_button.show()
        else:
            self.explanation.setText(f"The server did not accept your ssh key. This is "
                                     f"your public key ({key.fingerprint}). "
                                     + WHERE_TO_PASTE)
            self.public_key.setPlainText(key.text)
            self.public_key.show()
            self.copy_button.show()
        self.explanation.show()
        self.show()

    # ------------------------------------------------------------------ actions
    def _on_trust(self) -> None:
        if self._check is None or (self._task is not None and not self._task.done()):
            return
        self._task = spawn(self._trust(self._check), "trust-host")

    async def _trust(self, check: ssh_setup.HostCheck) -> None:
        try:
            path = await asyncio.to_thread(ssh_setup.trust, check)
        except (ssh_setup.SshSetupError, OSError) as exc:
            self.warning.error(str(exc))
            return
        log.info("trusted %s %s (%s)", check.target.alias, check.offered.fingerprint, path)
        self.clear()
        self.resolved.emit()

    def _on_copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.public_key.toPlainText())
        self.copy_button.setText("Copied")

    def _on_create(self) -> None:
        if self._target is None or (self._task is not None and not self._task.done()):
            return
        self._task = spawn(self._create(self._target), "create-key")

    async def _create(self, target: ssh_setup.SshTarget) -> None:
        try:
            path = ssh_setup.key_to_create(target)
            key = await asyncio.to_thread(ssh_setup.create_key, path)
        except (ssh_setup.SshSetupError, OSError) as exc:
            self.warning.error(str(exc))
            return
        self.create_button.hide()
        self._show_key(key)
