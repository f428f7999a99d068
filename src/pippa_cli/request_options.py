"""The one table of request options: what a user may ask of a render, declared once.

Each row says an option's name, type, default, range, help text and flag, whether a JSON
Lines batch line may set it, which RenderRequest field it fills, whether the sidecar and
history record it as given, and how an out-of-range value is explained. Derived from it:
the Typer options of `pippa generate` and `pippa enhance` (cli/request_flags.py), the
checks (`check`, run by spec.spec_from), the JSON Lines keys (batch_input.py), the
recorded settings (GenerateSpec.settings) and the render request's fields
(render_request.py). Adding an option is one row here plus the code that uses it.

A `repeatable` row (`--image`, `--lora`) takes any number of values: the flag repeats, a JSON Lines
line or a Python call gives one string or a list of them, and the checked value is a tuple
(empty when not given; read it with `options.every(IMAGE)`).

Longer than ~300 lines on purpose: the table is spelled out here whole, one row per
option, so that no other module spells an option out. Imported by `pippa --help`:
nothing heavy here.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pippa_cli import customization
from pippa_cli.errors import UsageError
from pippa_cli.presets import DEFAULT_NEGATIVE_PROMPT, Preset

if TYPE_CHECKING:
    from pippa_cli.customization import Customization

T = TypeVar("T")

# Where --help lists an option (a command places each section after one of its own).
RENDER = "render"  # what is rendered: size, length, sampling, model
SWITCHES = "switches"  # --allow-large, --no-enhance
CUSTOMIZATION = "customization"  # the five customization fields

MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class RequestOption(Generic[T]):
    """One row of the table. `T` is the type of a checked value."""

    name: str  # the Python name, JSON Lines key and settings key
    type: type[T]
    # On the command line. None means "decided when checked": `unset` says by what.
    default: T | None
    help: str  # as --help shows it, with {min} and {max} filled in
    section: str
    flag: str = ""  # default: --name-with-dashes. A bool's flag sets the opposite of default.
    batch: bool = True  # a JSON Lines line may set it
    render_field: str | None = None  # the RenderRequest field it fills, if any
    # In the sidecar and history settings as checked; False for options recorded in a
    # shape of their own (GenerateSpec.settings) or not at all.
    recorded: bool = True
    minimum: int | float | None = None
    maximum: int | float | None = None
    multiple_of: int | None = None
    # The hint for a value out of range; {min} and {max} are filled in.
    explain: str = "Choose {min} to {max}."
    # What a value not given becomes, given the model's preset. The model is resolved (and
    # a bad one reported) before the first option that has one is checked.
    unset: Callable[[Preset], T] | None = None
    # A given value's own check: returns it normalised or raises UsageError.
    normalise: Callable[[T], T] | None = None
    choices: tuple[str, ...] = ()  # offered by shell completion
    # Its default comes from pippa's settings (flag, then PIPPA_* variable, then .env).
    from_settings: bool = False
    # Given any number of times (see the module docstring); each value is checked alone.
    repeatable: bool = False
    metavar: str = ""  # how --help names the value [default: its type]

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def cli_help(self) -> str:
        return self.help.format(min=self.show(self.minimum), max=self.show(self.maximum))

    @property
    def json_types(self) -> tuple[builtins.type, ...]:
        """The JSON types a batch line may give (a JSON number without a point is an int;
        a repeatable option also takes a list)."""
        one = (int, float) if self.type is float else (self.type,)
        return (*one, list) if self.repeatable else one

    def accepts(self, value: Any) -> bool:
        """Whether `value` has a type this option takes, as JSON or Python gives it (a
        bool is an int in Python: only a bool option takes one)."""
        if self.repeatable and isinstance(value, (list, tuple)):
            return all(self._accepts_one(item) for item in value)
        return self._accepts_one(value)

    def _accepts_one(self, value: Any) -> bool:
        if isinstance(value, bool):
            return self.type is bool
        return isinstance(value, (int, float) if self.type is float else self.type)

    def show(self, value: Any) -> str:
        return f"{value:g}" if self.type is float and value is not None else str(value)

    def check(self, value: T) -> T:
        """`value` if it is allowed (normalised), else UsageError naming the flag."""
        if self.normalise is not None:
            value = self.normalise(value)
        number: Any = value
        low, high = self.minimum, self.maximum
        if self.multiple_of and number % self.multiple_of:
            raise UsageError(
                f"{self.cli_flag} {number} is not a multiple of {self.multiple_of}",
                f"LTX needs multiples of {self.multiple_of}; nearest valid: "
                f"{self._nearest(number)}.",
            )
        # `not low <= x`: NaN is in no range (`x < low` would let it through).
        if (low is not None and not low <= number) or (high is not None and not number <= high):
            raise UsageError(
                f"{self.cli_flag} {self.show(number)} is out of range",
                self.explain.format(min=self.show(low), max=self.show(high)),
            )
        return value

    def check_all(self, value: T | Sequence[T]) -> tuple[T, ...]:
        """A repeatable option's values (one, or a list or tuple of them), each checked."""
        if isinstance(value, (list, tuple)):
            return tuple(self.check(item) for item in value)
        return (self.check(value),)  # type: ignore[arg-type]

    def _nearest(self, value: int) -> str:
        """The multiples on either side of `value` that are in range (or the nearer end)."""
        step = self.multiple_of or 1
        low = self.minimum if self.minimum is not None else -math.inf
        high = self.maximum if self.maximum is not None else math.inf
        below = value // step * step
        nearest = [v for v in (below, below + step) if low <= v <= high]
        return " or ".join(map(str, nearest)) or self.show(low if value < low else high)


def _random_seed() -> int:
    import secrets  # here, not at the top: `pippa --help` imports this module

    return secrets.randbelow(MAX_SEED + 1)


def _negative_prompt(text: str) -> str:
    """Blank means none at all; anything else is checked like a prompt."""
    from pippa_cli.prompt_input import validate_prompt

    return validate_prompt(text, where="--negative-prompt") if text.strip() else ""


DURATION = RequestOption(
    "duration",
    float,
    5.0,
    "Seconds of video, {min} to {max}.",
    RENDER,
    minimum=3.0,
    maximum=10.0,
    explain="Choose {min} to {max} seconds.",
    recorded=False,  # recorded as the real and the requested duration
)
FPS = RequestOption(
    "fps",
    int,
    None,  # the preset's: 30, LTX-2 24 (the rate it is trained at)
    "Frames per second, {min} to {max} [default: 30; --model ltx-2, ltx-2-hd: 24].",
    RENDER,
    render_field="fps",
    minimum=8,
    maximum=60,
    unset=lambda preset: preset.fps,
    recorded=False,  # recorded with the frame count next to it
)
WIDTH = RequestOption(
    "width",
    int,
    None,  # the preset's: 768, ltx-hd 1216, ltx-2-hd 1536
    "Width in pixels, a multiple of 32 [default: 768; --model ltx-hd: 1216; --model "
    "ltx-2-hd: 1536].",
    RENDER,
    render_field="width",
    multiple_of=32,
    unset=lambda preset: preset.width,
    minimum=64,
    maximum=2048,
    explain="Choose {min} to {max} (LTX-Video: up to 1280; LTX-2: up to 2048).",
)
HEIGHT = RequestOption(
    "height",
    int,
    None,  # the preset's: 512, ltx-hd 704, ltx-2-hd 1024
    "Height in pixels, a multiple of 32 [default: 512; --model ltx-hd: 704; --model "
    "ltx-2-hd: 1024].",
    RENDER,
    render_field="height",
    multiple_of=32,
    unset=lambda preset: preset.height,
    minimum=64,
    maximum=2048,
    explain="Choose {min} to {max} (LTX-Video: up to 1280; LTX-2: up to 2048).",
)
STEPS = RequestOption(
    "steps",
    int,
    None,
    "Denoising steps [default: the model preset's].",
    RENDER,
    render_field="steps",
    minimum=1,
    maximum=200,
    unset=lambda preset: preset.steps,
)
GUIDANCE = RequestOption(
    "guidance",
    float,
    None,
    "Guidance scale [default: the model preset's].",
    RENDER,
    render_field="guidance",
    minimum=0.0,
    maximum=30.0,
    explain="Choose {min} to {max} (LTX: 1-5).",
    unset=lambda preset: preset.guidance,
)
NEGATIVE_PROMPT = RequestOption(
    "negative_prompt",
    str,
    None,
    "What to avoid [default: Lightricks' own].",
    RENDER,
    render_field="negative_prompt",
    unset=lambda preset: DEFAULT_NEGATIVE_PROMPT,
    normalise=_negative_prompt,
)
SEED = RequestOption(
    "seed",
    int,
    None,
    "Random seed [default: random, always recorded].",
    RENDER,
    render_field="seed",
    minimum=0,
    maximum=MAX_SEED,
    unset=lambda preset: _random_seed(),
)
MODEL = RequestOption(
    "model",
    str,
    None,
    "Preset (ltx-video, ltx-distilled, ltx-hd; with sound: ltx-2, ltx-2-hd), Hugging Face "
    "repo id, or local diffusers directory [env: PIPPA_MODEL; default: ltx-video].",
    RENDER,
    recorded=False,  # recorded as the resolved source: label, location, revision
    from_settings=True,
)
IMAGE = RequestOption(
    "image",
    str,
    None,
    "PATH[@FRAME][:STRENGTH]: an image the clip starts from, or passes through at @FRAME "
    "(-1: the last frame), held with STRENGTH 0 to 1 [default: 1]; repeatable. JPEG, PNG "
    "or WebP, resized and center-cropped to the clip.",
    RENDER,
    repeatable=True,
    metavar="<path>",
    # Read, placed and recorded (file name, SHA-256, frame, strength) by spec.spec_from.
    recorded=False,
)
EXTEND = RequestOption(
    "extend",
    str,
    None,
    "An MP4 clip to continue: its last frames start the new ones, --duration is the length "
    "added, and the file written is the whole clip. Its size and frame rate must be the "
    "request's (--width, --height, --fps).",
    RENDER,
    metavar="<video>",
    # Read, checked and recorded (file name, SHA-256, frames) by spec.spec_from.
    recorded=False,
)
LORA = RequestOption(
    "lora",
    str,
    None,
    "SOURCE[=SCALE]: a LoRA for this render, a local .safetensors file or a Hugging Face "
    "OWNER/NAME[@REVISION][:FILE.safetensors], applied with SCALE [default: --lora-scale]; "
    "repeatable.",
    RENDER,
    repeatable=True,
    metavar="<source>",
    # Checked and recorded (file and SHA-256, or repo, file and commit; scale) by spec_from.
    recorded=False,
)
LORA_SCALE = RequestOption(
    "lora_scale",
    float,
    1.0,
    "How strongly every --lora without its own =SCALE applies, {min} to {max}.",
    RENDER,
    minimum=0.0,
    maximum=2.0,
    explain="Choose {min} to {max}: 0 leaves the model as it is, 1 applies a LoRA as trained.",
    recorded=False,  # recorded with each LoRA
)
ALLOW_LARGE = RequestOption(
    "allow_large",
    bool,
    False,
    "Render a size beyond what the model or the deployed GPU and timeout are expected to "
    "handle (you pay for the attempt).",
    SWITCHES,
    batch=False,
    recorded=False,
)
ENHANCE = RequestOption(
    "enhance",
    bool,
    True,
    "Render the prompt as written.",
    SWITCHES,
    flag="--no-enhance",
    recorded=False,
)
AUDIO = RequestOption(
    "audio",
    bool,
    True,
    "With a model that renders sound (ltx-2): write the video without its sound track, "
    "and enhance the prompt without sound. A silent model (LTX-Video) ignores it.",
    SWITCHES,
    flag="--no-audio",
    render_field="audio",
    # Recorded in a shape of its own: what the MP4's track is, or false (GenerateSpec).
    recorded=False,
)
FAST = RequestOption(
    "fast",
    bool,
    False,
    "Skip about half the transformer's work on a long schedule (50 steps: 27 of 50 steps "
    "extrapolated, diffusers' TaylorSeer cache), for some loss of detail. Needs 20 or more "
    "steps: for --model ltx-video, not the 8-step presets.",
    SWITCHES,
    render_field="fast",
)
CUSTOMIZATIONS: tuple[RequestOption[str], ...] = tuple(
    RequestOption(
        field.name,
        str,
        None,
        field.help,
        CUSTOMIZATION,
        flag=field.flag,
        choices=field.examples,
        recorded=False,  # recorded together, as "customization"
    )
    for field in customization.FIELDS
)

# The table. A section's options are listed in --help in this order; JSON Lines names
# its keys in this order too.
OPTIONS: tuple[RequestOption[Any], ...] = (
    DURATION,
    FPS,
    WIDTH,
    HEIGHT,
    STEPS,
    GUIDANCE,
    NEGATIVE_PROMPT,
    SEED,
    MODEL,
    IMAGE,
    EXTEND,
    LORA,
    LORA_SCALE,
    *CUSTOMIZATIONS,
    ALLOW_LARGE,
    ENHANCE,
    AUDIO,
    FAST,
)
BY_NAME: dict[str, RequestOption[Any]] = {option.name: option for option in OPTIONS}
# The options a JSON Lines line may set.
BATCH_OPTIONS: tuple[RequestOption[Any], ...] = tuple(o for o in OPTIONS if o.batch)


class GivenOptions:
    """The table's options as the user gave them (the command line, or a batch's defaults
    merged with one line): None where an option was not given and has no default."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        unknown = sorted(set(values) - set(BY_NAME))
        if unknown:
            raise TypeError(f"not request options: {', '.join(unknown)}")
        # A repeatable option's list (JSON, the command line) is kept as a tuple: hashable.
        self._values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
        }

    def get(self, option: RequestOption[T]) -> T | None:
        """The value given, else the option's default (None: decided when checked)."""
        value = self._values.get(option.name)
        return option.default if value is None else value

    def __contains__(self, option: RequestOption[Any]) -> bool:
        return option.name in self._values

    def __iter__(self) -> Iterator[RequestOption[Any]]:
        return (BY_NAME[name] for name in self._values)

    def __repr__(self) -> str:
        return f"GivenOptions({self._values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GivenOptions) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def as_dict(self) -> dict[str, Any]:
        """The options as given, by name (None: not given): keywords for api.generate."""
        return dict(self._values)

    def replace(self, **values: Any) -> GivenOptions:
        return GivenOptions({**self._values, **values})

    def merged(self, line: Mapping[str, Any]) -> GivenOptions:
        """These options with a batch line's: a key present in the line wins, so an empty
        string clears a customization field the command set. Keys this command has no
        option for (a JSON Lines line may carry any batch option) do not apply."""
        return GivenOptions(
            {**self._values, **{k: v for k, v in line.items() if k in self._values}}
        )

    def customization(self) -> Customization:
        """The customization fields given, checked (UsageError naming the flag)."""
        from pippa_cli.customization import Customization

        return Customization.create(**{o.name: self.get(o) for o in CUSTOMIZATIONS if o in self})

    def settings_overrides(self) -> dict[str, Any]:
        """For load_settings: the options whose default is a setting (None: not given)."""
        return {o.name: self.get(o) for o in self if o.from_settings}

    def with_settings(self, settings: object) -> GivenOptions:
        """Options whose default is a setting, filled in from the loaded settings."""
        return self.replace(**{o.name: getattr(settings, o.name) for o in self if o.from_settings})


class CheckedOptions:
    """Every option of the table, checked, with the values decided for those not given
    (the preset's steps, a random seed, ...). Read one with `options[SEED]`."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        missing = [o.name for o in OPTIONS if o.name not in values]
        if missing:
            raise TypeError(f"request options missing: {', '.join(missing)}")
        self._values = dict(values)

    def __getitem__(self, option: RequestOption[T]) -> T:
        value: T = self._values[option.name]
        return value

    def every(self, option: RequestOption[T]) -> tuple[T, ...]:
        """A repeatable option's values, in the order given (empty when not given)."""
        if not option.repeatable:
            raise TypeError(f"{option.name} is not repeatable: read it with options[...]")
        values: tuple[T, ...] = self._values[option.name]
        return values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CheckedOptions) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        return f"CheckedOptions({self._values!r})"

    def recorded(self) -> dict[str, Any]:
        """The options the sidecar and history record as they are, in the table's order."""
        return {o.name: self._values[o.name] for o in OPTIONS if o.recorded}

    def render_fields(self) -> dict[str, Any]:
        """The RenderRequest fields the options fill."""
        return {o.render_field: self._values[o.name] for o in OPTIONS if o.render_field}


class OptionAttribute(Generic[T]):
    """A read-only attribute for one checked option of its holder's `options`."""

    def __init__(self, option: RequestOption[T]) -> None:
        self.option = option

    def __get__(self, holder: Any, owner: type | None = None) -> T:
        if holder is None:
            raise AttributeError(self.option.name)
        options: CheckedOptions = holder.options
        return options[self.option]


def check(given: GivenOptions, preset: Callable[[], Preset]) -> CheckedOptions:
    """Check every option in the table's order; UsageError (exit 2) names the first problem.

    `preset` resolves the model on first call (raising UsageError for a bad one); it is
    called before the first option whose unset value comes from the preset, given or not,
    so a bad model is reported at the same point whatever else was given.
    """
    checked: dict[str, Any] = {}
    for option in OPTIONS:
        value = given.get(option)
        if option.repeatable:
            checked[option.name] = () if value is None else option.check_all(value)
            continue
        if option.unset is not None:
            defaults = preset()
            if value is None:
                checked[option.name] = option.unset(defaults)
                continue
        checked[option.name] = value if value is None else option.check(value)
    return CheckedOptions(checked)
