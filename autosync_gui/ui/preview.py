"""Showing one version of a file: text, a picture (PNG, JPEG, SVG, GIF, WebP and whatever
else Qt's image plugins read), or what is known of other binaries; and two versions of a
text side by side with their differences marked."""

from __future__ import annotations

import difflib
from pathlib import PurePosixPath

from PyQt6.QtCore import QByteArray, Qt
from PyQt6.QtGui import QBrush, QColor, QFont, QImage, QPixmap
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from autosync_gui.sizes import human_size

TEXT_LIMIT = 512 * 1024  # bytes of a text shown
DIFF_ROWS = 5000  # rows of a side-by-side comparison
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".svg", ".svgz", ".gif", ".webp", ".bmp",
                  ".ico", ".tif", ".tiff"}
REMOVED = QColor("#ffebee")
ADDED = QColor("#e8f5e9")
CHANGED = QColor("#fff8e1")


def monospace() -> QFont:
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.TypeWriter)
    return font


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def as_text(data: bytes) -> str:
    text = data[:TEXT_LIMIT].decode("utf-8", errors="replace")
    if len(data) > TEXT_LIMIT:
        text += f"\n… ({len(data) - TEXT_LIMIT:,} more bytes not shown)"
    return text


def image_of(name: str, data: bytes) -> QImage | None:
    """The picture in `data`, or None when it is not one Qt can read. The name's suffix
    is the format hint (SVG has no magic number)."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in IMAGE_SUFFIXES and not is_binary(data):
        return None  # a text file
    hint = {".svgz": "svgz", ".svg": "svg", ".jpg": "jpeg"}.get(suffix, suffix.lstrip("."))
    image = QImage()
    if not (hint and image.loadFromData(QByteArray(data), hint)) \
            and not image.loadFromData(QByteArray(data)):
        return None
    return None if image.isNull() else image


class FilePreview(QStackedWidget):
    """One version of one file: its text, its picture, or a line about it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(monospace())
        self.text.setObjectName("preview_text")
        self.picture = QLabel()
        self.picture.setObjectName("preview_image")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.picture)
        scroll.setWidgetResizable(True)
        self.addWidget(self.text)
        self.addWidget(scroll)
        self.kind = "empty"  # "text", "image", "binary", "message", "empty"
        self.image: QImage | None = None

    def show_message(self, message: str) -> None:
        self.kind = "message"
        self.image = None
        self.text.setPlainText(message)
        self.setCurrentIndex(0)

    def clear(self) -> None:
        self.kind = "empty"
        self.image = None
        self.text.clear()
        self.picture.clear()
        self.setCurrentIndex(0)

    def show_data(self, name: str, data: bytes) -> str:
        """Show a version's content; returns what it was shown as."""
        image = image_of(name, data)
        if image is not None:
            self.kind = "image"
            self.image = image
            pixmap = QPixmap.fromImage(image)
            if pixmap.width() > 1600 or pixmap.height() > 1600:
                pixmap = pixmap.scaled(1600, 1600, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)
            self.picture.setPixmap(pixmap)
            self.picture.setToolTip(f"{image.width()} × {image.height()} pixels, "
                                    f"{human_size(len(data))}")
            self.setCurrentIndex(1)
        elif is_binary(data):
            self.kind = "binary"
            self.image = None
            head = " ".join(f"{b:02x}" for b in data[:64])
            self.text.setPlainText(f"Binary file, {human_size(len(data))} ({len(data):,} "
                                   f"bytes), not a picture autosync can show.\n\n"
                                   f"First bytes: {head}")
            self.setCurrentIndex(0)
        else:
            self.kind = "text"
            self.image = None
            self.text.setPlainText(as_text(data))
            self.setCurrentIndex(0)
        return self.kind


class SideBySideDiff(QTableWidget):
    """Two texts in two columns, lines aligned: removed lines red on the left, added green
    on the right, changed ones yellow on both."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setObjectName("side_by_side")
        self.setHorizontalHeaderLabels(["", "Older", "", "This version"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setFont(monospace())
        rows = self.verticalHeader()
        if rows is not None:
            rows.hide()
            rows.setDefaultSectionSize(18)
        header = self.horizontalHeader()
        if header is not None:
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.rows: list[tuple[str, str, str]] = []  # (tag, left, right) for tests and copy

    def show_message(self, message: str) -> None:
        self.rows = []
        self.setRowCount(1)
        self.setSpan(0, 0, 1, 4)
        self.setItem(0, 0, QTableWidgetItem(message))

    def compare(self, old: str | None, new: str, old_title: str = "Older",
                new_title: str = "This version") -> None:
        """Show `old` (None: the file did not exist) beside `new`."""
        self.clearSpans()
        self.setHorizontalHeaderLabels(["", old_title, "", new_title])
        left = (old or "").splitlines()
        right = new.splitlines()
        rows: list[tuple[str, int | None, str, int | None, str]] = []
        matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
        for opcode, i1, i2, j1, j2 in matcher.get_opcodes():
            tag: str = opcode
            span = max(i2 - i1, j2 - j1)
            for k in range(span):
                li = i1 + k if i1 + k < i2 else None
                rj = j1 + k if j1 + k < j2 else None
                kind = tag if tag != "replace" else (
                    "replace" if li is not None and rj is not None else
                    "delete" if li is not None else "insert")
                rows.append((kind, li, left[li] if li is not None else "",
                             rj, right[rj] if rj is not None else ""))
        shown = rows[:DIFF_ROWS]
        self.rows = [(kind, lt, rt) for kind, _li, lt, _rj, rt in shown]
        self.setRowCount(len(shown) + (1 if len(rows) > DIFF_ROWS else 0))
        colors = {"delete": (REMOVED, None), "insert": (None, ADDED),
                  "replace": (CHANGED, CHANGED)}
        for row, (kind, li, lt, rj, rt) in enumerate(shown):
            lcolor, rcolor = colors.get(kind, (None, None))
            for column, text, color in ((0, "" if li is None else str(li + 1), lcolor),
                                        (1, lt, lcolor),
                                        (2, "" if rj is None else str(rj + 1), rcolor),
                                        (3, rt, rcolor)):
                item = QTableWidgetItem(text)
                if color is not None:
                    item.setBackground(QBrush(color))
                self.setItem(row, column, item)
        if len(rows) > DIFF_ROWS:
            self.setSpan(len(shown), 0, 1, 4)
            self.setItem(len(shown), 0, QTableWidgetItem(
                f"… {len(rows) - DIFF_ROWS:,} more lines not shown"))
