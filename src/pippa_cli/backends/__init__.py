"""Where clips are rendered: Modal (serverless GPU) or the local machine's GPU.

Both follow the `Backend` protocol (base.py); `make_backend` picks one by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pippa_cli.backends.base import Backend
    from pippa_cli.backends.modal_client import ModalSDK
    from pippa_cli.settings import Settings

BackendName = Literal["modal", "local"]


def make_backend(name: str, settings: Settings, *, modal_sdk: ModalSDK | None = None) -> Backend:
    """The backend called `name`; `modal_sdk`: what the Modal one talks to (a test's
    stand-in), the real Modal SDK by default."""
    if name == "local":
        from pippa_cli.backends.local_backend import LocalBackend

        return LocalBackend(settings.speed)
    from pippa_cli.backends.modal_backend import ModalBackend

    return ModalBackend(app_name=settings.modal_app, class_name=settings.modal_class, sdk=modal_sdk)
