"""pippa: turn a sentence into a short video from your shell, or from Python.

    from pippa_cli import enhance, generate

`generate` and `enhance` are in pippa_cli.api; they are loaded on first use, so that
`pippa --help` (which imports this package) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pippa_cli.version import __version__

__all__ = ["__version__", "enhance", "generate"]

if TYPE_CHECKING:
    from pippa_cli.api import enhance, generate


def __getattr__(name: str) -> Any:
    if name in ("enhance", "generate"):
        from pippa_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'pippa_cli' has no attribute {name!r}")
