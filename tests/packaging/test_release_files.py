"""The files that describe a release agree with each other and with the pinned
environment the Debian package carries."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

from autosync_gui import __version__, version

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


def _pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_version_has_one_source() -> None:
    assert __version__ == _pyproject_version()
    result = subprocess.run([sys.executable, "-m", "autosync_gui", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"autosync {__version__}"


def test_version_falls_back_to_pyproject_in_a_source_tree(monkeypatch) -> None:
    def not_installed(name: str) -> None:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "metadata", not_installed)
    assert version._lookup() == (_pyproject_version(), tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["description"])


def test_version_without_metadata_or_source_tree_says_unknown(monkeypatch, tmp_path) -> None:
    def not_installed(name: str) -> None:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "metadata", not_installed)
    monkeypatch.setattr(version, "__file__", str(tmp_path / "autosync_gui" / "version.py"))
    assert version._lookup() == (version.UNKNOWN, "")


def _changelog_releases() -> list[tuple[str, str]]:
    return re.findall(r"^## \[(\d[^\]]*)\] - (\d{4}-\d{2}-\d{2})$",
                      (ROOT / "CHANGELOG.md").read_text(), flags=re.M)


def test_changelog_keeps_a_changelog_and_names_this_version_first() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n") and "\n## [Unreleased]\n" in text
    assert _changelog_releases()[0][0] == _pyproject_version()
    for heading in re.findall(r"^### (.+)$", text, flags=re.M):
        assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_debian_changelog_follows_changelog_md() -> None:
    result = subprocess.run([str(ROOT / "packaging" / "debian-changelog"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    first = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    assert first == f"autosync ({_pyproject_version()}) unstable; urgency=medium"


def test_metainfo_releases_follow_changelog_md() -> None:
    (metainfo,) = (ROOT / "packaging").glob("*.metainfo.xml")
    releases = [(r.get("version"), r.get("date"))
                for r in ET.parse(metainfo).getroot().iter("release")]
    assert releases == _changelog_releases()
