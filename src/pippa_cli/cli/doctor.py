"""`pippa doctor`: one line per check, with what to fix."""

from __future__ import annotations

import typer

from pippa_cli.cli import options as o


def doctor(json_output: o.Json = False, quiet: o.Quiet = False, debug: o.Debug = False) -> None:
    """Check the set-up: keys, Modal token and app, local GPU, MP4 encoder, PIPPA_HOME.

    Exits 1 if any check is an error.
    """
    from pippa_cli.cli.context import modal_sdk
    from pippa_cli.doctor import ERROR, run_checks
    from pippa_cli.output import Output
    from pippa_cli.settings import load_settings
    from pippa_cli.text import visible

    out = Output(quiet=quiet, json_mode=json_output)
    checks = run_checks(load_settings(), modal_sdk=modal_sdk())
    if json_output:
        out.data_json(
            {"ok": all(c.status != ERROR for c in checks), "checks": [c.to_json() for c in checks]}
        )
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            # Messages quote foreign text (a deployment record, a server): one line each.
            out.data(f"{check.status:<7}  {check.name:<{width}}  {visible(check.message)}")
            if check.hint and check.status != "ok":
                out.data(f"{'':<7}  {'':<{width}}  -> {visible(check.hint)}")
    if any(c.status == ERROR for c in checks):
        raise typer.Exit(1)
