"""Deploying pippa's Modal app from an installed pippa (`modal_app` ships in the wheel)."""

from __future__ import annotations

import os
import subprocess
import sys

from pippa_cli import __version__
from pippa_cli.errors import BackendError, UsageError

MODAL_APP_MODULE = "modal_app.app"


def deploy_command(app_name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modal",
        "deploy",
        "-m",
        MODAL_APP_MODULE,
        "--name",
        app_name,
        "--tag",
        f"pippa-{__version__}",
    ]


def deploy_env(app_name: str, gpu: str, timeout: int, scaledown: int) -> dict[str, str]:
    """The environment modal_app.app reads its deploy-time settings from."""
    if not gpu.strip() or any(c.isspace() for c in gpu.strip()):
        raise UsageError(f"--gpu {gpu!r} is not a GPU type", "E.g. H100, A100-80GB, L40S.")
    if not 60 <= timeout <= 86400:
        raise UsageError(f"--timeout {timeout} is out of range", "Choose 60 to 86400 seconds.")
    if not 2 <= scaledown <= 3600:
        raise UsageError(f"--scaledown {scaledown} is out of range", "Choose 2 to 3600 seconds.")
    return {
        **os.environ,
        "PIPPA_MODAL_APP": app_name,
        "PIPPA_MODAL_GPU": gpu.strip(),
        "PIPPA_MODAL_TIMEOUT": str(timeout),
        "PIPPA_MODAL_SCALEDOWN": str(scaledown),
    }


def deploy(app_name: str, gpu: str, timeout: int, scaledown: int) -> None:
    """Run `modal deploy`; its own output goes to stderr (stdout is for data)."""
    from pippa_cli.backends.modal_backend import ModalSDK, no_credentials

    env = deploy_env(app_name, gpu, timeout, scaledown)
    if not ModalSDK().has_credentials():
        raise no_credentials()
    result = subprocess.run(deploy_command(app_name), env=env, stdout=sys.stderr, check=False)
    if result.returncode != 0:
        raise BackendError(
            f"modal deploy failed (exit {result.returncode}); its messages are above",
            "Check `modal token current` and your Modal workspace, then retry.",
        )


def download_weights(app_name: str, model: str) -> str:
    """Fill the deployed app's weights Volume so the first render skips the download."""
    import modal

    from pippa_cli.backends.modal_backend import explain_modal_error

    try:
        function = modal.Function.from_name(app_name, "download_weights")
        return str(function.remote(model=model))
    except modal.exception.Error as exc:
        raise explain_modal_error(exc, app_name) from exc
