"""The option table's rows as a command's Typer options.

Typer reads a command's options from its signature, so `request_flags` builds one: the
command's own parameters, with a section of the table's options after each one it names,
and `request` (the table's values, one typed object) taken out. Help text, defaults and
types come from the table, so `pippa generate --help` lists a new row by itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

import typer

from pippa_cli.request_options import OPTIONS, GivenOptions, RequestOption

F = TypeVar("F", bound=Callable[..., Any])


def request_flags(after: Mapping[str, str | Sequence[RequestOption[Any]]]) -> Callable[[F], F]:
    """Give a command the table's options: the sections (or single options) `after`
    names, each listed after the command's own parameter that names it
    (`{"prompt": CUSTOMIZATION, "strict": (MODEL,)}`). The command receives them as one
    `request: GivenOptions` parameter."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "request"]
        unplaced = set(after) - {p.name for p in own}
        if unplaced:
            raise TypeError(f"{command.__name__} has no parameter {', '.join(sorted(unplaced))}")
        placed: list[RequestOption[Any]] = []
        parameters: list[inspect.Parameter] = []
        for parameter in own:
            parameters.append(parameter)
            for option in _options(after.get(parameter.name)):
                parameters.append(_parameter(option))
                placed.append(option)

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            given = {o.name: _value(o, values.pop(_name(o))) for o in placed}
            return command(**values, request=GivenOptions(given))

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run  # type: ignore[return-value]

    return decorate


def _options(place: str | Sequence[RequestOption[Any]] | None) -> list[RequestOption[Any]]:
    """The options one place lists: a section's, in the table's order, or those named."""
    if place is None:
        return []
    if isinstance(place, str):
        return [option for option in OPTIONS if option.section == place]
    return list(place)


def _name(option: RequestOption[Any]) -> str:
    """The command-line parameter's name: `no_enhance` for --no-enhance."""
    return option.cli_flag.lstrip("-").replace("-", "_")


def _parameter(option: RequestOption[Any]) -> inspect.Parameter:
    if option.type is bool:
        # A flag that sets the opposite of the option's default: --no-enhance, --allow-large.
        kind: Any = bool
        default: Any = False
    elif option.repeatable:  # the flag repeats: --image a.png --image b.png@-1
        kind = list[option.type] | None  # type: ignore[name-defined]
        default = None
    else:
        kind = option.type if option.default is not None else option.type | None
        default = option.default
    info = typer.Option(
        option.cli_flag,
        help=option.cli_help,
        metavar=option.metavar or None,
        autocompletion=_completer(option.choices) if option.choices else None,
    )
    return inspect.Parameter(
        _name(option),
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=default,
        annotation=Annotated[kind, info],
    )


def _value(option: RequestOption[Any], given: Any) -> Any:
    if option.type is bool:
        return not option.default if given else option.default
    if option.repeatable:
        return tuple(given) if given else None
    return given


def _completer(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete.lower())]

    return complete
