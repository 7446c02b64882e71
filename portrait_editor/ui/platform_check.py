"""Before Qt starts: will its platform plugin load? (No Qt in this module.)

When the xcb plugin cannot load (on a minimal Linux desktop libxcb-cursor0, libxcb-icccm4 and
their siblings are often missing: Qt 6.5+ needs them), Qt prints "could not load the Qt platform
plugin xcb" and aborts the process inside the QApplication constructor, where Python cannot
catch it. So the editor checks the libraries first and says which system packages to install.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    # soname: (Debian / Ubuntu package, Fedora / RHEL package). What Qt 6.5+'s xcb plugin
    # (libqxcb.so and libQt6XcbQpa) loads, as Qt's "X11 requirements" page lists it.
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
}

QT_GUI_LIBRARIES: dict[str, tuple[str, str]] = {
    # What QtGui itself links on Linux: without these ``import PySide6.QtGui`` fails.
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}

PACKAGES = {**XCB_LIBRARIES, **QT_GUI_LIBRARIES}


def qt_platform(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str:
    """The platform plugin Qt will try first: QT_QPA_PLATFORM, else the session's default."""
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return requested.split(";")[0].split(":")[0].strip().lower()
    if not platform.startswith("linux"):
        return {"darwin": "cocoa", "win32": "windows"}.get(platform, "")
    if environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb"


def missing_packages_message(missing: Iterable[str], platform_name: str = "xcb") -> str:
    """The words for a user whose system lacks the libraries ``missing`` (sonames)."""
    missing = list(dict.fromkeys(missing))
    known = [PACKAGES[lib] for lib in missing if lib in PACKAGES]
    unknown = [lib for lib in missing if lib not in PACKAGES]
    lines = [
        f"portrait-editor: the editor cannot open its window: Qt's {platform_name!r} platform plugin "
        f"needs system libraries that are missing: {', '.join(missing)}.",
    ]
    if known:
        debian = " ".join(dict.fromkeys(deb for deb, _ in known))
        fedora = " ".join(dict.fromkeys(rpm for _, rpm in known))
        lines += [
            "Install them and start Portrait Editor again:",
            f"  Debian, Ubuntu:  sudo apt install {debian}",
            f"  Fedora, RHEL:    sudo dnf install {fedora}",
        ]
    if unknown:
        lines.append(f"Install the package that provides {', '.join(unknown)} "
                     "(apt-file search / dnf provides name it).")
    lines.append("The command line works without them: portrait-editor complete --help")
    return "\n".join(lines)


def no_display_message(platform_name: str = "xcb") -> str:
    return (f"portrait-editor: the editor cannot open its window: no display to show it on "
            f"(Qt's {platform_name!r} platform plugin needs DISPLAY, which is not set). Start it from a "
            "desktop session; the command line works without one: portrait-editor complete --help")


def library_loads(soname: str, extra_dirs: Iterable[Path] = ()) -> bool:
    """Can the dynamic loader open ``soname``, from the system or from the program's own folders?"""
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return any((Path(folder) / soname).exists() for folder in extra_dirs)


def _qt_folders() -> list[Path]:
    """Where this Qt keeps its own libraries (a frozen application bundles some of them)."""
    folders = []
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        folders.append(Path(sys._MEIPASS))
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        folders += [Path(folder) / "Qt" / "lib", Path(folder)]
    return folders


def _plugin_load_error(platform_name: str) -> tuple[bool, str | None]:
    """Load Qt's plugin as Qt will: (whether it loaded, the first library it could not find, when
    the loader names one). The plugin is the ground truth; XCB_LIBRARIES names every missing
    library at once (the loader stops at the first) and the package that holds it."""
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / f"libq{platform_name}.so"
        if plugin.is_file():
            try:
                ctypes.CDLL(str(plugin))
            except OSError as exc:
                # A frozen application's ctypes wraps the loader's message in its own error.
                return False, missing_library_in(f"{exc} {exc.__cause__ or ''}")
            return True, None
    return False, None


def missing_library_in(error: str) -> str | None:
    """The library a loader error names (``libX.so.1: cannot open shared object file``)."""
    match = re.search(r"([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file", error)
    return match.group(1) if match else None


def platform_problem(environ: Mapping[str, str] = os.environ, platform: str = sys.platform,
                     loads: Callable[[str], bool] | None = None) -> str | None:
    """A message for the user when Qt's platform plugin cannot start here, else None.

    Only the xcb plugin (X11, the Linux default) is checked: that is the one that aborts on a
    minimal desktop. ``loads(soname)`` answers whether a library can be opened (tests pass a fake).
    """
    name = qt_platform(environ, platform)
    if name != "xcb" or not platform.startswith("linux"):
        return None
    check_plugin = loads is None
    if loads is None:
        folders = _qt_folders()

        def loads(soname: str) -> bool:
            return library_loads(soname, folders)

    missing = [lib for lib in XCB_LIBRARIES if not loads(lib)]
    if check_plugin:
        loaded, first_missing = _plugin_load_error(name)
        if loaded:
            missing = []  # whatever the list says, Qt will start
        elif first_missing and first_missing not in missing:
            missing.append(first_missing)
    if missing:
        return missing_packages_message(missing, name)
    if not environ.get("DISPLAY"):
        return no_display_message(name)
    return None
