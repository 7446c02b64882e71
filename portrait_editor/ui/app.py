"""``portrait-editor [PHOTO]``: the QApplication and the start-up order.

The window is shown first and only then does the engine start loading torch and the networks in
its own thread (importing torch alone takes seconds), so the window appears at once and the
status bar says "Loading models…" until the engine is ready.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import qtawesome as qta
from PySide6.QtWidgets import QApplication

from .main_window import APP_NAME, MainWindow
from .panels.settings import DEVICES

ORGANISATION = "portrait-editor"


def app_icon():
    return qta.icon("mdi6.account-edit", color="#e8618c")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="portrait-editor", description="Repair portraits.")
    parser.add_argument("photo", nargs="?", help="a photo to open")
    parser.add_argument("--weights", help="weights folder for this session (default: the settings)")
    parser.add_argument("--device", choices=DEVICES, help="device for this session (default: the settings)")
    return parser.parse_args(argv)


def _report_startup(window: MainWindow) -> None:
    """For measuring start-up (packaging/test_bundle.sh): wall-clock times on stderr, to compare
    with when the program was launched."""

    def report(event: str) -> None:
        print(f"portrait-editor: {event} at {time.time():.3f}", file=sys.stderr, flush=True)

    report("first window shown")
    # Emitted on the engine's thread; printing from there is fine.
    window.engine.ready.connect(lambda description: report(f"models ready ({description})"))
    window.engine.loadFailed.connect(lambda message: report(f"models failed ({message})"))


def run_app(argv: list[str]) -> int:
    """Run the editor; ``argv`` are the arguments after the program name."""
    args = parse_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APP_NAME)
    app.setDesktopFileName("portrait-editor")
    app.setWindowIcon(app_icon())

    window = MainWindow()
    window.session_weights = args.weights
    window.session_device = args.device
    window.show()
    app.processEvents()  # paint the window before anything slow starts
    if os.environ.get("PORTRAIT_EDITOR_REPORT_STARTUP"):
        _report_startup(window)
    window.start_engine()
    if args.photo:
        window.open_path(args.photo)
    return app.exec()
