"""Where clips are rendered: Modal (serverless GPU) or the local machine's GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pippa_cli.backends.local_backend import LocalBackend
    from pippa_cli.backends.modal_backend import ModalBackend
    from pippa_cli.settings import Settings

BackendName = Literal["modal", "local"]


def make_backend(name: str, settings: Settings) -> ModalBackend | LocalBackend:
    if name == "local":
        from pippa_cli.backends.local_backend import LocalBackend

        return LocalBackend()
    from pippa_cli.backends.modal_backend import ModalBackend

    return ModalBackend(app_name=settings.modal_app, class_name=settings.modal_class)
