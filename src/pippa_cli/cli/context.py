"""What the commands talk to, handed in from outside: `app(args, obj=Runtime(...))`.

The real collaborators are the defaults; a test (or a benchmark) passes its own, e.g.
`runner.invoke(app, args, obj=Runtime(modal_sdk=standin))`, and nothing is patched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pippa_cli.backends.modal_client import ModalSDK


@dataclass
class Runtime:
    modal_sdk: ModalSDK | None = None  # None: the real Modal SDK


def modal_sdk() -> ModalSDK | None:
    """The Modal SDK the running command was handed (None: the real one)."""
    # typer ships its own click; its context is where `app(..., obj=...)` lands.
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    runtime = ctx.find_object(Runtime) if ctx is not None else None
    return runtime.modal_sdk if runtime is not None else None
