"""Entry point: ``portrait-editor`` opens the editor; ``portrait-editor complete ...`` runs headless."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "complete":
        from .cli import main as complete_main

        return complete_main(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print("usage: portrait-editor [PHOTO]            open the editor\n"
              "       portrait-editor complete --help    repair photos from the command line")
        return 0
    from .ui import platform_check

    # Qt aborts the process when its platform plugin cannot load: say what to install instead.
    problem = platform_check.platform_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    try:
        from .ui.app import run_app
    except ImportError as exc:
        library = platform_check.missing_library_in(str(exc))
        if library:  # QtGui links a system library (libEGL, libxkbcommon...) that is not installed
            print(platform_check.missing_packages_message([library], "Qt"), file=sys.stderr)
        else:
            print(f"portrait-editor: the desktop editor is not available in this build ({exc}); "
                  "use 'portrait-editor complete --help'", file=sys.stderr)
        return 1
    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
