"""pippa for Python: what the CLI does, as two functions with typed results.

    from pippa_cli import enhance, generate

    text = enhance("a foggy harbour at dawn", mood="peaceful").enhanced_prompt
    job = generate("a red fox in snow", duration=4, backend="local", output="fox.mp4")
    print(job.video_path, job.seed, job.enhanced_prompt)

Options are the CLI's, as keywords (duration, fps, width, height, steps, guidance,
negative_prompt, seed, model, image, extend, lora, lora_scale, style, camera_angle,
lighting, movement, mood, allow_large, enhance, audio, fast); those not given take the CLI's
defaults and settings (PIPPA_* variables, .env). `image` is one `PATH[@FRAME][:STRENGTH]` or
a list of them, as `--image` takes them (a Path is the file it names, at frame 0); `extend` an MP4
to continue (a str or Path; `duration` is then the length added); `lora` one
`SOURCE[=SCALE]` or a list, as `--lora` takes them (a Path is read as its text).
A bad request raises `UsageError` before anything is spent; every other failure raises a
`PippaError` (see pippa_cli.errors); Ctrl-C raises `Interrupted`, a KeyboardInterrupt. A
job is in the history like any other (`pippa status`). Nothing is printed, and nothing
asked, unless an `Output` is passed. `pippa generate` and
`pippa enhance` call these functions.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pippa_cli.backends.modal_client import ModalSDK
    from pippa_cli.enhancement import Enhancement
    from pippa_cli.history import Job
    from pippa_cli.output import Output
    from pippa_cli.settings import Settings


def enhance(
    prompt: str,
    *,
    strict: bool = False,
    settings: Settings | None = None,
    model: str | None = None,
    audio: bool = True,
    **customization: str | None,
) -> Enhancement:
    """Rewrite `prompt` as a detailed video prompt with Groq; without a key, or when Groq
    fails, the prompt with the customization as plain phrases (`.warning` says why), or
    EnhancementError with `strict`. Customization: style, camera_angle, lighting, movement,
    mood. `model` (as `generate` takes it [default: PIPPA_MODEL, ltx-video]) says what the
    prompt is for: with a model that renders sound (ltx-2), and `audio` not False, the
    prompt describes the sound too."""
    from pippa_cli.customization import Customization
    from pippa_cli.enhancement import enhance_prompt
    from pippa_cli.prompt_input import validate_prompt
    from pippa_cli.request_options import GivenOptions
    from pippa_cli.settings import load_settings
    from pippa_cli.spec import has_sound

    _check_types({**customization, "model": model, "audio": audio})
    checked = Customization.create(**customization)
    text = validate_prompt(prompt)
    settings = settings or load_settings(model=model)
    sound = has_sound(GivenOptions({"model": model or settings.model, "audio": audio}))
    return enhance_prompt(text, checked, settings, strict=strict, sound=sound)


def generate(
    prompt: str,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    backend: str | None = None,
    detach: bool = False,
    keep_running: bool = False,
    strict: bool = False,
    settings: Settings | None = None,
    out: Output | None = None,
    modal_sdk: ModalSDK | None = None,
    **options: Any,
) -> Job:
    """Render `prompt` and return its job as completed (`video_path` is the MP4), or as
    submitted with `detach` (Modal). `output`: an MP4 path or a directory (a str ending in
    `/`, or one that exists) [default: named from the prompt, in the working directory].
    `settings` replaces pippa's own (then `backend` is ignored); `out` shows progress."""
    from pippa_cli.backends import make_backend
    from pippa_cli.errors import UsageError
    from pippa_cli.generation import Services, run_generation
    from pippa_cli.history import History
    from pippa_cli.output import Output
    from pippa_cli.request_options import OPTIONS, GivenOptions
    from pippa_cli.settings import load_settings
    from pippa_cli.spec import spec_from

    options = _paths_as_text(options)
    _check_types(options)
    # Every option of the table, as the CLI passes them: None where not given.
    given = GivenOptions({**{option.name: None for option in OPTIONS}, **options})
    if settings is None:
        settings = load_settings(backend=backend, **given.settings_overrides())
    spec = spec_from(
        prompt,
        given.with_settings(settings),
        backend=settings.backend,
        output=str(output) if isinstance(output, Path) else output,
        overwrite=overwrite,
    )
    if detach and spec.backend != "modal":
        # Before the history is opened: a usage error leaves nothing behind.
        raise UsageError("--detach needs the Modal backend", "Drop --detach with --backend local.")
    history = History.open_default(settings.home)
    renderer = make_backend(spec.backend, settings, modal_sdk=modal_sdk)
    services = Services(settings, history, renderer, strict=strict)
    # A library call prints nothing and asks nothing: Ctrl-C cancels the job on Modal
    # (unless keep_running) and raises errors.Interrupted, a KeyboardInterrupt.
    silent = Output(quiet=True, interactive=False)
    outcome = run_generation(
        spec, services, out or silent, detach=detach, keep_running=keep_running
    )
    outcome.raise_for_outcome()
    return outcome.job or history.get(outcome.task_id)


def _paths_as_text(options: dict[str, Any]) -> dict[str, Any]:
    """`image=`, `extend=` and `lora=` Paths (or lists holding Paths) as the text the CLI
    would get. A Path names a file, whatever its name holds (`take:1`): as an image it
    starts the clip (`@0`)."""
    options = dict(options)
    if isinstance(options.get("extend"), PurePath):
        options["extend"] = str(options["extend"])
    for name, text in (("image", lambda v: f"{v}@0"), ("lora", str)):
        value = options.get(name)
        if isinstance(value, PurePath):
            options[name] = text(value)
        elif isinstance(value, (list, tuple)):
            options[name] = [text(v) if isinstance(v, PurePath) else v for v in value]
    return options


def _check_types(options: dict[str, Any]) -> None:
    """UsageError for a keyword the table does not have, or a value of the wrong type
    (the checks after this one compare numbers and read strings)."""
    from pippa_cli.errors import UsageError
    from pippa_cli.request_options import BY_NAME

    hint = "See `pippa generate --help` for the options."
    unknown = sorted(set(options) - set(BY_NAME))
    if unknown:
        raise UsageError(f"not request options: {', '.join(unknown)}", hint)
    for name, value in options.items():
        option = BY_NAME[name]
        if value is not None and not option.accepts(value):
            wanted = " or ".join(t.__name__ for t in option.json_types)
            given = type(value).__name__
            if isinstance(value, list | tuple):  # a repeatable option: name the odd item
                odd = next((v for v in value if not option.accepts(v)), None)
                given = f"a {given} holding {type(odd).__name__}"
            raise UsageError(f"{name} must be {wanted}, not {given}", hint)
