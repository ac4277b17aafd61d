#!/usr/bin/python3
"""Removes the parts of the PyQt6 wheels that autosync never loads from a built venv.

The PyQt6-Qt6 wheel carries all of Qt (Quick, QML, 3D, WebView, multimedia with FFmpeg, SQL
drivers, ...): about 220 MB, and plugins linked against libraries no desktop needs for a
tray app (PostgreSQL, ODBC, Firebird, GTK). What stays:
- the PyQt6 modules that autosync_gui imports (found by reading its source, so a new
  import is picked up by the next build) and the sip module;
- the plugins a desktop session needs: the xcb, Wayland, offscreen and minimal platforms,
  the XDG portal theme, input methods, SVG, ICO, GIF, JPEG and WebP images (the preview
  shows pictures), SVG icons, the GL
  integrations of xcb and Wayland, the TLS backends;
- every Qt library those need, followed through their ELF DT_NEEDED entries.
Anything left that needs a library found neither here nor on the build machine is an
error (it would fail to load on the user's machine too).

Usage: prune-qt.py VENV_SITE_PACKAGES AUTOSYNC_SOURCE_DIR
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

KEEP_PLUGINS = {
    "platforms": {"libqxcb.so", "libqwayland.so", "libqoffscreen.so", "libqminimal.so"},
    "platformthemes": {"libqxdgdesktopportal.so"},
    "platforminputcontexts": None,  # None: every plugin in the folder
    # Icons are SVG; the version preview shows pictures. Not PDF (it drags in Qt's PDF
    # engine with its own FreeType, lcms2 and OpenJPEG) nor the rarer formats.
    "imageformats": {"libqsvg.so", "libqico.so", "libqgif.so", "libqjpeg.so", "libqwebp.so"},
    "iconengines": None,
    "xcbglintegrations": None,
    "wayland-shell-integration": {"libxdg-shell.so"},
    "wayland-decoration-client": None,
    "wayland-graphics-integration-client": {"libqt-plugin-wayland-egl.so",
                                            "libshm-emulation-server.so"},
    "tls": None,
}
ALWAYS_MODULES = {"sip"}


def needed(path: Path) -> list[str]:
    """The DT_NEEDED sonames of an ELF file."""
    out = subprocess.run(["readelf", "-d", "-W", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def system_sonames() -> set[str]:
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def used_modules(source: Path) -> set[str]:
    found: set[str] = set()
    for py in source.rglob("*.py"):
        found.update(re.findall(r"PyQt6\.(Qt[A-Za-z0-9]+)", py.read_text(encoding="utf-8")))
    return found


def main(site_packages: Path, source: Path) -> int:
    pyqt = site_packages / "PyQt6"
    qt = pyqt / "Qt6"
    modules = used_modules(source / "autosync_gui")
    if "QtCore" not in modules:
        print(f"prune-qt: no PyQt6 import found under {source}/autosync_gui", file=sys.stderr)
        return 1

    # PyQt6's extension modules: keep the used ones.
    kept: list[Path] = []
    for ext in pyqt.glob("*.so"):
        name = ext.name.split(".", 1)[0]
        if name in modules or name in ALWAYS_MODULES:
            kept.append(ext)
        else:
            ext.unlink()
            ext.with_name(name + ".pyi").unlink(missing_ok=True)

    # Plugins: keep the listed ones.
    for folder in (qt / "plugins").iterdir():
        wanted = KEEP_PLUGINS.get(folder.name, set())
        for plugin in folder.iterdir():
            if wanted is None or plugin.name in wanted:
                kept.append(plugin)
            else:
                plugin.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()
    for unused in (qt / "qml", qt / "qsci", pyqt / "bindings"):  # QML; sip files for developers
        shutil.rmtree(unused, ignore_errors=True)
    for translation in (qt / "translations").glob("*.qm"):
        if not translation.name.startswith(("qt_", "qtbase_")):
            translation.unlink()

    # Qt's own libraries: the closure of what the kept files need.
    libs = {p.name: p for p in (qt / "lib").iterdir() if p.is_file() or p.is_symlink()}
    system = system_sonames()
    wanted_libs: set[str] = set()
    missing: list[str] = []
    queue = list(kept)
    while queue:
        elf = queue.pop()
        for soname in needed(elf):
            if soname in libs:
                if soname not in wanted_libs:
                    wanted_libs.add(soname)
                    queue.append(libs[soname])
            elif soname not in system:
                missing.append(f"{elf.relative_to(site_packages)} needs {soname}")
    if missing:
        print("prune-qt: libraries found nowhere:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    removed = 0
    for name, path in libs.items():
        if name not in wanted_libs:
            path.unlink()
            removed += 1
    print(f"prune-qt: kept PyQt6 modules {sorted(p.name.split('.')[0] for p in kept if p.parent == pyqt)}, "
          f"{len(wanted_libs)} Qt libraries; removed {removed}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
