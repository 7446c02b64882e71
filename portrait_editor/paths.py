"""Where the program's files live: packaged resources and the user's config folder."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """The packaged ``resources/`` folder (inside the package when installed from a wheel,
    beside it in a source checkout or editable install)."""
    for candidate in (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"resources folder not found beside {_PACKAGE_DIR}")


def user_config_dir() -> Path:
    """The per-user configuration folder (no Qt: follows each platform's convention)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "portrait-editor"


def package_file(package: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing the package (some
    weight-carrying packages import heavy or incompatible dependencies); None when absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder).joinpath(*parts)
        if candidate.is_file():
            return candidate
    return None
