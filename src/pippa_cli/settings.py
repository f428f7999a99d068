"""pippa's configuration: flags beat the environment, which beats a `.env` file.

Imported only by commands that run (pydantic-settings is too slow for `--help`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pippa_cli.redaction import register

if TYPE_CHECKING:
    from pippa_cli.speed import SpeedSettings

DEFAULT_ENHANCE_MODEL = "meta-llama/llama-4-scout-17b-16e-instruct"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PIPPA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Groq, named as the groq SDK names them.
    groq_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("groq_api_key", "GROQ_API_KEY")
    )
    groq_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("groq_base_url", "GROQ_BASE_URL")
    )

    enhance_model: str = DEFAULT_ENHANCE_MODEL
    enhance_temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    enhance_max_tokens: int = Field(default=500, ge=16, le=8192)
    # Total seconds for one enhancement, retries included.
    enhance_timeout: float = Field(default=20.0, gt=0)
    enhance_retries: int = Field(default=2, ge=0, le=10)

    backend: Literal["modal", "local"] = "modal"
    model: str = "ltx-video"
    modal_app: str = "pippa"
    modal_class: str = "LTX"

    home: Path | None = None
    debug: bool = False

    # The speed levers for the local backend (speed.py; Modal's are `pippa deploy` flags):
    # PIPPA_COMPILE=1, PIPPA_ATTENTION=cudnn, PIPPA_TEXT_ENCODER_OFFLOAD=1,
    # PIPPA_CHANNELS_LAST=1. All off by default.
    compile: bool = False
    attention: str | None = None  # a key of speed.ATTENTION_BACKENDS; "default": None
    text_encoder_offload: bool = False
    channels_last: bool = False

    @field_validator("attention", mode="before")
    @classmethod
    def _attention(cls, value: Any) -> Any:
        """The names `pippa deploy --attention` takes, "default" among them."""
        from pippa_cli.speed import ATTENTION_BACKENDS

        if value is None or (isinstance(value, str) and value.strip() in ("", "default")):
            return None
        if value not in ATTENTION_BACKENDS:
            names = ", ".join([*ATTENTION_BACKENDS, "default"])
            raise ValueError(f"{value!r} is not an attention backend (one of {names})")
        return value

    @property
    def speed(self) -> SpeedSettings:
        from pippa_cli.speed import SpeedSettings

        return SpeedSettings(
            compile=self.compile,
            attention=self.attention,
            text_encoder_offload=self.text_encoder_offload,
            channels_last=self.channels_last,
        )

    @property
    def groq_key(self) -> str | None:
        if self.groq_api_key is None:
            return None
        value = self.groq_api_key.get_secret_value().strip()
        # A key from .env is not in the environment: register it so it is never shown.
        register(value)
        return value or None

    @property
    def groq_key_problem(self) -> str | None:
        """Why the key cannot be a Groq key (it would fail as an HTTP header), if it can't."""
        key = self.groq_key
        if key is None:
            return None
        if not key.isascii():
            return "it contains a non-ASCII character"
        if any(not char.isprintable() or char.isspace() for char in key):
            return "it contains a space, a line break or a control character"
        return None


def load_settings(**overrides: Any) -> Settings:
    """Settings with command-line overrides (None means 'not given on the command line')."""
    from pydantic import ValidationError

    from pippa_cli.errors import UsageError

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        raise UsageError(
            f"invalid setting {name}: {first['msg']}",
            f"Check the flag, the PIPPA_{name.upper()} variable, or your .env file.",
        ) from None
    # A key from .env is not in the environment: redaction must know it before anything
    # (an error from Modal, a path) could echo it, enhancement or not.
    if settings.groq_api_key is not None:
        register(settings.groq_api_key.get_secret_value())
    return settings
