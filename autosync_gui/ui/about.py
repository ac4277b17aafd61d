"""The About box: what autosync is and which version runs (autosync_gui.version, the same
value as `autosync --version`, the man page and the package)."""

from __future__ import annotations

import html

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox, QWidget

from autosync_gui.ui.icons import app_icon
from autosync_gui.version import SUMMARY, __version__

HOMEPAGE = "https://github.com/autosync/autosync"


def about_html() -> str:
    return (f"<h3>autosync {html.escape(__version__)}</h3>"
            f"<p>{html.escape(SUMMARY)}</p>"
            "<p>Free software under the GNU General Public License, version 3 or later.</p>"
            f'<p><a href="{HOMEPAGE}">{HOMEPAGE}</a></p>')


class AboutBox(QMessageBox):
    """Shown with open(), never exec(): a nested event loop inside qasync breaks it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("about_box")
        self.setWindowTitle("About autosync")
        self.setWindowIcon(app_icon())
        self.setIconPixmap(app_icon().pixmap(64, 64))
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setText(about_html())
        self.setStandardButtons(QMessageBox.StandardButton.Close)
