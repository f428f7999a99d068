"""Where pippa keeps its own files: PIPPA_HOME, else the platform's per-user data dir."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "pippa"


def data_dir(home: Path | None = None) -> Path:
    """History and other state; PIPPA_HOME moves everything to one directory."""
    root = home or _env_home()
    if root is not None:
        return root
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def compile_cache_dir(home: Path | None = None) -> Path:
    """Where torch.compile keeps its kernels for the local backend (speed.use_compile_cache):
    the platform's per-user cache dir, or under PIPPA_HOME when that is set."""
    root = home or _env_home()
    if root is not None:
        return root / "cache" / "inductor"
    from platformdirs import user_cache_path

    return user_cache_path(APP_NAME, appauthor=False) / "inductor"


def _env_home() -> Path | None:
    value = os.environ.get("PIPPA_HOME", "").strip()
    return Path(value).expanduser() if value else None


def unsaved_dirs(data: Path) -> list[Path]:
    """Where a render that could not be saved where asked is kept, in the order tried:
    beside the history in `data` (pippa's data dir), else a per-user folder in the system
    temp dir (often another file system, so it may have room when the first has none)."""
    import getpass
    import tempfile

    user = str(os.getuid()) if hasattr(os, "getuid") else getpass.getuser()
    return [data / "unsaved", Path(tempfile.gettempdir()) / f"pippa-unsaved-{user}"]
