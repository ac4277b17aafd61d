"""The files that describe a release agree with each other and with the pinned
environment the Debian package carries."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_bundled_distribution_is_named_in_debian_copyright() -> None:
    pinned = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", (ROOT / "packaging" / "requirements.txt")
                        .read_text(), flags=re.M)
    assert "pyqt6" in pinned and "slixmpp" in pinned
    copyright_text = {_normalised(word) for word in
                      re.findall(r"[A-Za-z0-9._-]+", (ROOT / "debian" / "copyright").read_text())}
    missing = [name for name in pinned if _normalised(name) not in copyright_text]
    assert not missing, f"add these to debian/copyright's list: {missing}"
