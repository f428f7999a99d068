"""Deploying pippa's Modal app (it ships inside pippa as `pippa_cli.modal_app`).

`modal deploy -m MODULE` puts the current directory first on `sys.path`, so a `modal_app/`
or `pippa_cli/` there would be deployed instead of pippa's own. pippa runs it from an
empty directory of its own: only the installed package can be found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from pippa_cli.deployment import DeployConfig, app_key
from pippa_cli.errors import BackendError
from pippa_cli.version import __version__

if TYPE_CHECKING:
    from pippa_cli.backends.modal_client import ModalSDK

MODAL_APP_MODULE = "pippa_cli.modal_app.app"


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


def deploy_env(config: DeployConfig) -> dict[str, str]:
    """The environment `modal deploy` runs in: the user's (token, PATH) plus the settings."""
    # PYTHONSAFEPATH: `python -m modal` must not pick up a modal/ beside it either.
    return {**os.environ, **config.validate().to_env(), "PYTHONSAFEPATH": "1"}


def deploy(app_name: str, given: dict[str, Any], sdk: ModalSDK | None = None) -> DeployConfig:
    """Deploy with the `given` settings, the previous deployment's for the rest (defaults
    the first time): run `modal deploy` (its output goes to stderr: stdout is for data),
    then record the deployment for the clients that call it. Returns what was deployed."""
    from pippa_cli.backends.modal_backend import bounded
    from pippa_cli.backends.modal_client import ModalSDK, no_credentials

    DeployConfig(app_name=app_name).updated(None, given).validate()  # bad flags first
    sdk = sdk if sdk is not None else ModalSDK()
    if not sdk.has_credentials():
        raise no_credentials()
    records = sdk.deployments_dict()
    # Fail in seconds, not after modal's minute of retries, when Modal cannot be reached.
    previous = bounded(lambda: records.get(app_key(app_name), None), "connecting to Modal")
    config = DeployConfig(app_name=app_name).updated(previous, given).validate()
    returncode = run_modal_deploy(config)
    if returncode != 0:
        raise BackendError(
            f"modal deploy failed (exit {returncode}); its messages are above",
            "Check `modal token current` and your Modal workspace, then retry.",
        )
    bounded(lambda: records.put(app_key(app_name), config.record()), "recording the deployment")
    return config


def run_modal_deploy(config: DeployConfig, timeout: float | None = None) -> int:
    """`modal deploy` of the app inside the installed pippa, from an empty directory of its
    own (modal puts the working directory first on sys.path); its exit code."""
    neutral = tempfile.mkdtemp(prefix="pippa-deploy-")
    try:
        result = subprocess.run(
            deploy_command(config.app_name),
            env=deploy_env(config),
            cwd=neutral,
            stdout=sys.stderr,
            check=False,
            timeout=timeout,
        )
    finally:
        shutil.rmtree(neutral, ignore_errors=True)
    return result.returncode
