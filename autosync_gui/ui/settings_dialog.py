"""*Settings…*: notification level, start at login, and the XMPP account. Saved
atomically with config.save_config; the XMPP password is checked and stored like in the
wizard (keyring, or a 0600 file only after the user agreed)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.config import ConfigError, Settings, UiSettings, save_config
from autosync_gui.ui import autostart
from autosync_gui.ui.common import ErrorLabel, spawn
from autosync_gui.ui.icons import app_icon
from autosync_gui.ui.xmpp_form import FormError, XmppForm

log = logging.getLogger(__name__)

LEVELS = (("all", "All changes, conflicts and errors"),
          ("important", "Only conflicts and errors"),
          ("none", "None"))


class SettingsDialog(QDialog):
    saved = pyqtSignal(object)  # Settings

    def __init__(self, settings: Settings, config_path: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.config_path = config_path
        self.setWindowTitle("autosync settings")
        self.setWindowIcon(app_icon())
        self.level = QComboBox()
        self.level.setObjectName("notification_level")
        for value, text in LEVELS:
            self.level.addItem(text, value)
        self.level.setCurrentIndex([v for v, _ in LEVELS].index(settings.ui.notifications))
        self.start_at_login = QCheckBox("Start autosync when I log in")
        self.start_at_login.setChecked(autostart.is_enabled())
        self.xmpp = XmppForm(settings.xmpp)
        self.xmpp.password.setPlaceholderText("unchanged" if settings.xmpp else "")
        form = QFormLayout()
        form.addRow("Desktop notifications:", self.level)
        form.addRow("", self.start_at_login)
        group = QGroupBox("XMPP account (tells your other machines to pull at once)")
        group_layout = QVBoxLayout(group)
        group_layout.addWidget(self.xmpp)
        self.message = ErrorLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(group)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._task: asyncio.Task[None] | None = None
        self.password_stored = False  # the app logs in again with a new password
        self.xmpp.phase.connect(self.message.info)

    def _xmpp_changed(self) -> bool:
        current = self.settings.xmpp
        if current is None:
            return not self.xmpp.is_empty()
        try:
            new = self.xmpp.settings()
        except FormError:
            return True  # let validate() say what is wrong
        return new != current or bool(self.xmpp.password.text())

    def _on_save(self) -> None:
        if self._task is None or self._task.done():
            self._task = spawn(self.save(), "settings-save")

    async def save(self) -> bool:
        self.buttons.setEnabled(False)
        try:
            new = replace(self.settings, ui=UiSettings(notifications=self.level.currentData()))
            if self._xmpp_changed():
                if self.xmpp.is_empty():
                    new = replace(new, xmpp=None)
                else:
                    await self.xmpp.validate()
                    await self.xmpp.store_password()
                    self.password_stored = True
                    new = replace(new, xmpp=self.xmpp.settings())
            elif self.xmpp.is_empty():
                new = replace(new, xmpp=None)
            await asyncio.to_thread(save_config, new, self.config_path)
            await asyncio.to_thread(autostart.set_enabled, self.start_at_login.isChecked(),
                                    self.config_path)
        except (FormError, ConfigError, OSError) as exc:
            self.message.error(str(exc))
            return False
        finally:
            self.buttons.setEnabled(True)
        self.settings = new
        self.message.clear_message()
        self.saved.emit(new)
        self.accept()
        return True
