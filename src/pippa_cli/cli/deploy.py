"""`pippa deploy`: deploy (or update) pippa's app on your Modal account."""

from __future__ import annotations

from typing import Annotated

import typer

from pippa_cli.cli import options as o


def deploy(
    gpu: Annotated[
        str | None,
        typer.Option(help="GPU type for renders: H100, A100-80GB, L40S, ... [default: H100]"),
    ] = None,
    timeout: Annotated[
        int | None, typer.Option(help="Seconds one render may take [default: 1800].")
    ] = None,
    scaledown: Annotated[
        int | None,
        typer.Option(help="Seconds an idle GPU container stays warm, billed [default: 240]."),
    ] = None,
    max_containers: Annotated[
        int | None,
        typer.Option(
            "--max-containers",
            help="GPU containers at once: a bound on spend; more calls queue [default: 4].",
        ),
    ] = None,
    cpu: Annotated[
        float | None, typer.Option(help="CPU cores requested per GPU container [default: 4].")
    ] = None,
    memory: Annotated[
        int | None,
        typer.Option(
            help="MiB of RAM requested per GPU container; the model loads there first "
            "[default: 32768]."
        ),
    ] = None,
    compile: Annotated[
        bool | None,
        typer.Option(
            "--compile/--no-compile",
            help="torch.compile the transformer's blocks: the first render of each new "
            "container compiles (kept on the weights Volume) so that later ones may run "
            "faster (not measured yet); frames within 1/255 [default: off].",
        ),
    ] = None,
    attention: Annotated[
        str | None,
        typer.Option(
            help="Attention kernel: sdpa, cudnn, efficient, math, or default (diffusers' "
            "choice) [default: default].",
        ),
    ] = None,
    text_encoder_offload: Annotated[
        bool | None,
        typer.Option(
            "--text-encoder-offload/--no-text-encoder-offload",
            help="Keep the text encoder in CPU RAM except while it encodes: more GPU memory "
            "for the video, a copy to the GPU per render [default: off].",
        ),
    ] = None,
    channels_last: Annotated[
        bool | None,
        typer.Option(
            "--channels-last/--no-channels-last",
            help="Lay out the VAE's convolutions channels-last [default: off].",
        ),
    ] = None,
    gpu_snapshot: Annotated[
        bool | None,
        typer.Option(
            "--gpu-snapshot/--no-gpu-snapshot",
            help="Snapshot the model on the GPU too (Modal's alpha GPU memory snapshots): "
            "shorter cold starts where it restores [default: off].",
        ),
    ] = None,
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

    Safe to rerun: it updates the app in place and keeps the settings of the last deploy
    for any option not given. The app has no web endpoint; only your own authenticated
    pippa can call it.
    """
    from pippa_cli.backends.modal_backend import ModalBackend
    from pippa_cli.cli.context import modal_sdk
    from pippa_cli.deploy import deploy as run_deploy
    from pippa_cli.errors import UsageError
    from pippa_cli.hub import check_access
    from pippa_cli.output import Output
    from pippa_cli.presets import resolve_model
    from pippa_cli.settings import load_settings

    out = Output(quiet=quiet)
    sdk = modal_sdk()
    settings = load_settings(modal_app=app_name)
    for model in download or []:
        try:
            source = resolve_model(model)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if source.is_local_dir:
            raise UsageError(f"--download {model} is a local directory", "Modal cannot see it.")
        check_access(source)  # a gated model refused to this user: said before deploying
    config = run_deploy(
        settings.modal_app,
        {
            "gpu": gpu,
            "timeout_s": timeout,
            "scaledown_s": scaledown,
            "max_containers": max_containers,
            "cpu": cpu,
            "memory_mib": memory,
            "compile": compile,
            # "default": diffusers' own choice, which a redeploy must be able to go back to.
            "attention": "" if attention == "default" else attention,
            "text_encoder_offload": text_encoder_offload,
            "channels_last": channels_last,
            "gpu_snapshot": gpu_snapshot,
        },
        sdk=sdk,
    )
    extra = config.levers()
    out.info(
        f"Deployed {config.app_name}: {config.gpu}, {config.timeout_s} s per render, "
        f"up to {config.max_containers} containers, {config.scaledown_s} s warm"
        + (f"; {extra}." if extra else ".")
    )
    for model in download or []:
        out.info(f"Downloading {model} weights into the app's cache (once, on a CPU)...")
        # The exact repo and revision this pippa means, as generate asks for it.
        backend = ModalBackend(settings.modal_app, settings.modal_class, sdk=sdk)
        fetched = backend.download(resolve_model(model).remote_label)
        out.info(f"{model}: {fetched.get('location')} at commit {fetched.get('commit')}")
        if fetched.get("upsampler"):
            out.info(
                f"  upsampler {fetched['upsampler']} at commit {fetched.get('upsampler_commit')}"
            )
    out.info('Deployed. Try: pippa generate "a red fox in snow"')
    out.data(settings.modal_app)
