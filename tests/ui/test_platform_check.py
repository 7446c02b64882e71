"""A first run that explains itself: Qt's platform plugin problems become one clear message."""

from __future__ import annotations

import os
import subprocess
import sys

from portrait_editor.ui.platform_check import (
    XCB_LIBRARIES,
    missing_library_in,
    missing_packages_message,
    platform_problem,
    qt_platform,
)

X11_SESSION = {"DISPLAY": ":0"}


def loads_all_but(*missing: str):
    return lambda soname: soname not in missing


def test_message_names_the_libraries_and_the_packages_to_install():
    message = missing_packages_message(["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in message
    assert "sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms" in message
    assert "portrait-editor complete" in message  # what still works meanwhile


def test_message_for_a_library_the_table_does_not_know():
    message = missing_packages_message(["libxcb-shape.so.0", "libnew-thing.so.2"])
    assert "sudo apt install libxcb-shape0" in message
    assert "libnew-thing.so.2" in message.splitlines()[-2]
    assert missing_packages_message(["libxcb.so.1", "libxcb-shm.so.0"]).count("dnf install libxcb\n") == 1


def test_missing_xcb_libraries_are_reported_before_qt_starts():
    message = platform_problem(X11_SESSION, "linux", loads_all_but("libxcb-cursor.so.0", "libxkbcommon-x11.so.0"))
    assert message is not None
    assert "libxcb-cursor.so.0, libxkbcommon-x11.so.0" in message
    assert "apt install libxcb-cursor0 libxkbcommon-x11-0" in message


def test_no_problem_when_the_libraries_are_there_or_another_plugin_is_used():
    assert platform_problem(X11_SESSION, "linux", loads_all_but()) is None
    nothing_loads = loads_all_but(*XCB_LIBRARIES)
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", nothing_loads) is None
    assert platform_problem({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux",
                            nothing_loads) is None
    assert platform_problem({}, "darwin", nothing_loads) is None
    assert platform_problem({}, "win32", nothing_loads) is None


def test_no_display_is_explained():
    message = platform_problem({}, "linux", loads_all_but())
    assert message is not None and "DISPLAY" in message


def test_which_plugin_qt_tries_first():
    assert qt_platform({}, "linux") == "xcb"
    assert qt_platform({"QT_QPA_PLATFORM": "xcb:nograb;offscreen"}, "linux") == "xcb"
    assert qt_platform({"QT_QPA_PLATFORM": "Wayland"}, "linux") == "wayland"
    assert qt_platform({"XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": "w"}, "linux") == "xcb"
    assert qt_platform({}, "darwin") == "cocoa"


def test_loader_errors_name_the_library():
    error = "libxcb-icccm.so.4: cannot open shared object file: No such file or directory"
    assert missing_library_in(error) == "libxcb-icccm.so.4"
    assert missing_library_in("libEGL.so.1: cannot open shared object file") == "libEGL.so.1"
    assert missing_library_in("No module named 'PySide6'") is None


def test_the_editor_explains_instead_of_aborting():
    """The real program on the real system, on X11 with no display (and, on a minimal system,
    without the xcb libraries): a clear message and exit status 1, never Qt's abort."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    proc = subprocess.run([sys.executable, "-m", "portrait_editor"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("portrait-editor: the editor cannot open its window"), proc.stderr
    assert "could not load the Qt platform plugin" not in proc.stderr
