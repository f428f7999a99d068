"""`pippa deploy`: deploy (or update) pippa's app on your Modal account."""

from __future__ import annotations

from typing import Annotated

import typer

from pippa_cli.cli import options as o


def deploy(
    gpu: Annotated[
        str, typer.Option(help="GPU type for renders: H100, A100-80GB, L40S, ...")
    ] = "H100",
    timeout: Annotated[int, typer.Option(help="Seconds one render may take.")] = 1800,
    scaledown: Annotated[
        int, typer.Option(help="Seconds an idle GPU container stays warm (billed).")
    ] = 240,
    max_containers: Annotated[
        int,
        typer.Option(
            "--max-containers", help="GPU containers at once (a bound on spend; more queue)."
        ),
    ] = 4,
    cpu: Annotated[float, typer.Option(help="CPU cores requested per GPU container.")] = 4.0,
    memory: Annotated[
        int, typer.Option(help="MiB of RAM requested per GPU container (the model loads there).")
    ] = 32768,
    app_name: Annotated[
        str | None, typer.Option("--app-name", help="Modal app name [env: PIPPA_MODAL_APP].")
    ] = None,
    download: Annotated[
        list[str] | None,
        typer.Option(
            "--download",
            help="Also fetch this model's weights into the app's cache now, on a CPU "
            "(repeatable), e.g. --download ltx-distilled. pippa generate fetches a model's "
            "weights by itself the first time.",
        ),
    ] = None,
    quiet: o.Quiet = False,
    debug: o.Debug = False,
) -> None:
    """Deploy pippa's LTX-Video app to Modal (needs `modal token new` once).

    Safe to rerun: it updates the app in place. The app has no web endpoint; only your
    own authenticated pippa can call it.
    """
    from pippa_cli.deploy import deploy as run_deploy
    from pippa_cli.deploy import download_weights
    from pippa_cli.deployment import DeployConfig
    from pippa_cli.errors import UsageError
    from pippa_cli.output import Output
    from pippa_cli.presets import resolve_model
    from pippa_cli.settings import load_settings

    out = Output(quiet=quiet)
    settings = load_settings(modal_app=app_name)
    config = DeployConfig(
        app_name=settings.modal_app,
        gpu=gpu,
        timeout_s=timeout,
        scaledown_s=scaledown,
        max_containers=max_containers,
        cpu=cpu,
        memory_mib=memory,
    ).validate()
    for model in download or []:
        try:
            source = resolve_model(model)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if source.is_local_dir:
            raise UsageError(f"--download {model} is a local directory", "Modal cannot see it.")
    run_deploy(config)
    for model in download or []:
        out.info(f"Downloading {model} weights into the app's cache (once, on a CPU)...")
        fetched = download_weights(settings.modal_app, model)
        out.info(f"{model}: {fetched.get('location')} at commit {fetched.get('commit')}")
    out.info('Deployed. Try: pippa generate "a red fox in snow"')
    out.data(settings.modal_app)
