"""How to add the `local` extra to this pippa, worded for the way it was installed.

pippa is not on PyPI, so `pip install 'pippa-cli[local]'` cannot work. The hint names the
source this copy was installed from (its PEP 610 direct_url.json), the installer that put
it there (uv tool, pipx, uv pip or pip) and the interpreter running pippa.
"""

from __future__ import annotations

import json
import shlex
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

DIST_NAME = "pippa-cli"
EXTRA = "local"
_PLACEHOLDER = "/path/to/pippa"
_TORCH = "for a GPU, install the torch build for your CUDA first"


def local_extra_hint(dist: metadata.Distribution | None = None) -> str:
    """One sentence: the command that adds the local extra, or how to find it."""
    command, known = _command(dist)
    if known:
        return f"Install the local extra: {command} ({_TORCH})."
    return f"Reinstall pippa from its source directory with the local extra: {command} ({_TORCH})."


def local_extra_command(dist: metadata.Distribution | None = None) -> str:
    """The shell command that adds the local extra (a placeholder path when unknown)."""
    return _command(dist)[0]


def _command(dist: metadata.Distribution | None) -> tuple[str, bool]:
    if dist is None:
        try:
            dist = metadata.distribution(DIST_NAME)
        except metadata.PackageNotFoundError:
            dist = None
    source = _source(dist) if dist is not None else None
    target, editable = source or (f"{_PLACEHOLDER}[{EXTRA}]", False)
    installer = _installer(dist)
    edit = ["--editable"] if editable else []
    prefix = Path(sys.prefix)
    # Tool managers own their environments: reinstall through them, or their next upgrade
    # drops the extra again.
    if (prefix / "uv-receipt.toml").is_file():
        words = ["uv", "tool", "install", "--reinstall", *edit, target]
    elif (prefix / "pipx_metadata.json").is_file():
        words = ["pipx", "install", "--force", *edit, target]
    elif installer == "uv":  # uv pip: the environment may have no pip at all
        words = ["uv", "pip", "install", "--python", sys.executable, *edit, target]
    else:
        words = [sys.executable, "-m", "pip", "install", *edit, target]
    return shlex.join(words), source is not None


def _installer(dist: metadata.Distribution | None) -> str:
    text = dist.read_text("INSTALLER") if dist is not None else None
    return (text or "").strip()


def _source(dist: metadata.Distribution) -> tuple[str, bool] | None:
    """What to install with the extra, and whether it was an editable install."""
    try:
        info = json.loads(dist.read_text("direct_url.json") or "null")
        url = info["url"]
    except (ValueError, TypeError, KeyError):
        return None  # installed from an index or an installer that records nothing
    if not isinstance(url, str):
        return None
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict):
        revision = vcs.get("requested_revision") or vcs.get("commit_id")
        at = f"@{revision}" if revision else ""
        sub = info.get("subdirectory")
        fragment = f"#subdirectory={sub}" if sub else ""
        return f"{DIST_NAME}[{EXTRA}] @ {vcs.get('vcs', 'git')}+{url}{at}{fragment}", False
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return f"{DIST_NAME}[{EXTRA}] @ {url}", False
    path = Path(unquote(parsed.path))
    if not path.exists():
        return None  # a checkout or download since deleted: nothing to point at
    if path.is_dir():
        editable = bool((info.get("dir_info") or {}).get("editable"))
        return f"{path}[{EXTRA}]", editable
    # An archive: uv parses no extras on a file path, so the standard form.
    return f"{DIST_NAME}[{EXTRA}] @ {path.as_uri()}", False
