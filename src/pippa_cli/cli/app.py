"""The `pippa` entry point: wires the commands and turns exceptions into `Error:` lines."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from pippa_cli.cli import deploy, doctor, enhance, generate, status
from pippa_cli.cli.options import debug_enabled, state
from pippa_cli.errors import Explained, PippaError
from pippa_cli.version import __version__


class PippaGroup(TyperGroup):
    """One place that reports every error the same way (modal's cli/_suggest.py style)."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        _refuse_undecodable(sys.argv[1:] if args is None else list(args))
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        from typer._click.exceptions import ClickException

        state.debug = False
        try:
            return super().invoke(ctx)
        except Explained as exc:  # a PippaError, or a job stopped by Ctrl-C or a signal
            _print_traceback_if_debug(exc.details or _details_of_cause(exc))
            from pippa_cli.output import report_error

            report_error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, ClickException, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            raise typer.Exit(1) from None
        except Exception as exc:
            _print_traceback_if_debug()
            from pippa_cli.output import report_error

            report_error(
                f"unexpected {type(exc).__name__}: {exc}",
                "Run again with --debug for the full traceback, and report it if it persists.",
            )
            raise typer.Exit(1) from None


def _refuse_undecodable(args: list[str]) -> None:
    """Bytes that are not UTF-8 in an argument (`pippa enhance $'fox \\xff'`) arrive as
    lone surrogates: a usage error before anything runs, not a garbled prompt or path."""
    if all(arg.isascii() for arg in args):
        return  # the usual case: start-up does not pay for importing pippa_cli.text
    from pippa_cli.text import has_undecodable, visible

    for number, arg in enumerate(args, start=1):
        if has_undecodable(arg):
            from pippa_cli.output import report_error

            report_error(
                f"argument {number} ({visible(arg)}) is not valid UTF-8",
                "Pass text and file names as UTF-8; convert a file name with convmv or rename it.",
            )
            raise SystemExit(2)


def _print_traceback_if_debug(details: str | None = None) -> None:
    if debug_enabled():
        import traceback

        from pippa_cli.text import visible

        text = traceback.format_exc()
        if details:
            text += "\nRemote traceback (on Modal):\n" + details.rstrip() + "\n"
        sys.stderr.write(visible(text, multiline=True))


def _details_of_cause(exc: BaseException) -> str | None:
    """A job's error wraps the backend's; its remote traceback is on the wrapped one."""
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, PippaError) and seen.details:
            return seen.details
        seen = seen.__cause__ or seen.__context__
    return None


app = typer.Typer(
    cls=PippaGroup,
    name="pippa",
    help="Turn a sentence into a short video: Groq enhances the prompt, LTX-Video renders it "
    "on Modal or your own GPU.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: fast to print, nothing to strip in a pipe
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"pippa {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Turn a sentence into a short video from your shell."""


app.command("enhance")(enhance.enhance)
app.command("generate")(generate.generate)
app.command("status")(status.status)
app.command("cancel")(status.cancel)
app.command("deploy")(deploy.deploy)
app.command("doctor")(doctor.doctor)


def main() -> None:
    app(prog_name="pippa")
