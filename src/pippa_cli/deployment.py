"""The deployed Modal app's settings, shared by `pippa deploy`, the app and the client.

`pippa deploy` hands the settings to the app through the environment (the app reads them
when Modal imports it) and, once the deploy succeeded, writes them with pippa's version
into a Modal Dict. Before spending anything the client reads that record back: is the app
deployed, is it this pippa's (or at least able to render this request), and will the
request fit its GPU and timeout? The record is one Dict read: no container starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pippa_cli.errors import UsageError
from pippa_cli.speed import ATTENTION_BACKENDS, SpeedSettings
from pippa_cli.version import __version__

DEPLOYMENTS_DICT = "pippa-deployments"
# The scale-down windows `pippa deploy --scaledown` takes, in seconds.
SCALEDOWN_RANGE = (2, 3600)


def app_key(app_name: str) -> str:
    return f"app:{app_name}"


@dataclass(frozen=True)
class DeployConfig:
    """What `pippa deploy` sets; read back by modal_app from PIPPA_MODAL_* variables."""

    app_name: str = "pippa"
    gpu: str = "H100"
    timeout_s: int = 1800  # per render
    scaledown_s: int = 240  # an idle container stays warm (billed) this long
    max_containers: int = 4  # GPU containers at once: a bound on spend
    cpu: float = 4.0  # cores requested per GPU container
    memory_mib: int = 32768  # RAM requested per GPU container (the pipeline loads on CPU)
    # The speed levers (speed.py), applied in the container once the pipeline is placed.
    compile: bool = False
    attention: str = ""  # a key of speed.ATTENTION_BACKENDS; "": diffusers' default
    text_encoder_offload: bool = False
    channels_last: bool = False
    # Snapshot the pipeline on the GPU, not only on the CPU (Modal's alpha; opt-in).
    gpu_snapshot: bool = False

    @property
    def speed(self) -> SpeedSettings:
        return SpeedSettings(
            compile=self.compile,
            attention=self.attention or None,
            text_encoder_offload=self.text_encoder_offload,
            channels_last=self.channels_last,
        )

    def levers(self) -> str:
        """The speed levers deployed, for a message ('' when none)."""
        return deployed_levers(self.__dict__)

    def validate(self) -> DeployConfig:
        gpu = self.gpu.strip()
        if not gpu or any(c.isspace() for c in gpu):
            raise UsageError(f"--gpu {self.gpu!r} is not a GPU type", "E.g. H100, A100-80GB, L40S.")
        if self.attention and self.attention not in ATTENTION_BACKENDS:
            raise UsageError(
                f"--attention {self.attention!r} is not an attention backend",
                f"Choose {', '.join(ATTENTION_BACKENDS)}, or default.",
            )
        checks = [
            ("--timeout", self.timeout_s, 60, 86400, "seconds"),
            ("--scaledown", self.scaledown_s, *SCALEDOWN_RANGE, "seconds"),
            ("--max-containers", self.max_containers, 1, 100, "containers"),
            ("--cpu", self.cpu, 0.25, 64, "cores"),
            ("--memory", self.memory_mib, 1024, 344064, "MiB"),
        ]
        for flag, value, low, high, unit in checks:
            if not low <= value <= high:
                raise UsageError(
                    f"{flag} {value:g} is out of range", f"Choose {low:g} to {high:g} {unit}."
                )
        return self

    def to_env(self) -> dict[str, str]:
        return {
            "PIPPA_MODAL_APP": self.app_name,
            "PIPPA_MODAL_GPU": self.gpu.strip(),
            "PIPPA_MODAL_TIMEOUT": str(self.timeout_s),
            "PIPPA_MODAL_SCALEDOWN": str(self.scaledown_s),
            "PIPPA_MODAL_MAX_CONTAINERS": str(self.max_containers),
            "PIPPA_MODAL_CPU": f"{self.cpu:g}",
            "PIPPA_MODAL_MEMORY": str(self.memory_mib),
            **self.speed_env(),
        }

    def speed_env(self) -> dict[str, str]:
        """The settings the container reads when it runs (not only when Modal imports the
        app to deploy it): they go into the image's environment as well."""
        return {
            "PIPPA_MODAL_COMPILE": _flag(self.compile),
            "PIPPA_MODAL_ATTENTION": self.attention,
            "PIPPA_MODAL_TEXT_ENCODER_OFFLOAD": _flag(self.text_encoder_offload),
            "PIPPA_MODAL_CHANNELS_LAST": _flag(self.channels_last),
            "PIPPA_MODAL_GPU_SNAPSHOT": _flag(self.gpu_snapshot),
        }

    def updated(self, record: object, given: Mapping[str, Any]) -> DeployConfig:
        """These settings with a previous deployment's (its record) where not `given`:
        rerunning `pippa deploy` keeps a custom GPU, timeout, ... unless told otherwise."""
        values = dict(self.__dict__)
        if isinstance(record, dict):
            for name in _KEPT:
                kept = _kept_value(record.get(name), type(values[name]))
                if name == "attention" and kept not in ATTENTION_BACKENDS:
                    kept = None  # a backend this pippa does not know: diffusers' default
                if kept is not None:  # a value this pippa cannot read: the default
                    values[name] = kept
        values.update({k: v for k, v in given.items() if v is not None})
        return DeployConfig(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeployConfig:
        env = os.environ if env is None else env
        base = cls()
        return cls(
            app_name=env.get("PIPPA_MODAL_APP", base.app_name),
            gpu=env.get("PIPPA_MODAL_GPU", base.gpu),
            timeout_s=int(env.get("PIPPA_MODAL_TIMEOUT", base.timeout_s)),
            scaledown_s=int(env.get("PIPPA_MODAL_SCALEDOWN", base.scaledown_s)),
            max_containers=int(env.get("PIPPA_MODAL_MAX_CONTAINERS", base.max_containers)),
            cpu=float(env.get("PIPPA_MODAL_CPU", base.cpu)),
            memory_mib=int(env.get("PIPPA_MODAL_MEMORY", base.memory_mib)),
            compile=env.get("PIPPA_MODAL_COMPILE") == "1",
            attention=env.get("PIPPA_MODAL_ATTENTION", base.attention),
            text_encoder_offload=env.get("PIPPA_MODAL_TEXT_ENCODER_OFFLOAD") == "1",
            channels_last=env.get("PIPPA_MODAL_CHANNELS_LAST") == "1",
            gpu_snapshot=env.get("PIPPA_MODAL_GPU_SNAPSHOT") == "1",
        )

    def record(self) -> dict[str, Any]:
        """What the client needs to know about this deployment."""
        from pippa_cli.ltx import RenderRequest
        from pippa_cli.presets import PRESETS

        return {
            "pippa_version": __version__,
            "gpu": self.gpu.strip(),
            "timeout_s": self.timeout_s,
            "scaledown_s": self.scaledown_s,
            "max_containers": self.max_containers,
            "cpu": self.cpu,
            "memory_mib": self.memory_mib,
            "compile": self.compile,
            "attention": self.attention,
            "text_encoder_offload": self.text_encoder_offload,
            "channels_last": self.channels_last,
            "gpu_snapshot": self.gpu_snapshot,
            "request_fields": RenderRequest.field_names(),
            "presets": sorted(PRESETS),
            # download_weights takes the user's Hugging Face token (gated repositories).
            "download_token": True,
            "deployed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class Deployment:
    """A deployment record as the client reads it back."""

    pippa_version: str
    gpu: str
    timeout_s: int
    max_containers: int
    request_fields: frozenset[str] = field(default_factory=frozenset)
    presets: frozenset[str] = field(default_factory=frozenset)
    # Its download_weights takes a Hugging Face token (apps deployed before it cannot).
    download_token: bool = False

    @classmethod
    def from_record(cls, record: object) -> Deployment | None:
        """None when the record is missing or unreadable (deployed by an older pippa)."""
        if not isinstance(record, dict):
            return None
        try:
            return cls(
                pippa_version=str(record["pippa_version"]),
                gpu=str(record["gpu"]),
                timeout_s=int(record["timeout_s"]),
                max_containers=int(record.get("max_containers") or 0),
                request_fields=frozenset(map(str, record.get("request_fields") or ())),
                presets=frozenset(map(str, record.get("presets") or ())),
                download_token=record.get("download_token") is True,
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return None

    def cannot_render(self, fields: list[str]) -> str | None:
        """Why this deployment cannot render a request (None if it can). Models need no
        check: the client names the exact repo and commit, whatever the app's presets."""
        missing = sorted(set(fields) - self.request_fields)
        if missing:
            return f"it does not know the request field(s) {', '.join(missing)}"
        return None


def deployed_levers(record: object) -> str:
    """The speed levers a deployment (its record, or its settings) runs with, for a
    message: 'compile, attention cudnn; GPU snapshots' ('' when none). Read as recorded,
    not as this pippa would redeploy them: a backend a newer pippa deployed is named."""
    if not isinstance(record, Mapping):
        return ""
    on = [name for name in ("compile",) if record.get(name) is True]
    attention = record.get("attention")
    if isinstance(attention, str) and attention.isprintable() and attention:
        unknown = "" if attention in ATTENTION_BACKENDS else " (unknown to this pippa)"
        on.append(f"attention {attention}{unknown}")
    on += [name for name in ("text_encoder_offload", "channels_last") if record.get(name) is True]
    snapshots = "GPU snapshots" if record.get("gpu_snapshot") is True else ""
    return "; ".join(part for part in (", ".join(on), snapshots) if part)


# The settings a redeploy keeps from the previous deployment's record unless given.
_KEPT = (
    "gpu",
    "timeout_s",
    "scaledown_s",
    "max_containers",
    "cpu",
    "memory_mib",
    "compile",
    "attention",
    "text_encoder_offload",
    "channels_last",
    "gpu_snapshot",
)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _kept_value(value: object, kind: type) -> Any:
    """A previous deployment's setting as this pippa's type, or None when the record holds
    something else (an older or a hand-edited record): deploying must not crash on it."""
    import math

    if kind is bool:
        return value if isinstance(value, bool) else None
    if value is None or isinstance(value, bool):
        return None
    if kind is str:
        return value if isinstance(value, str) and value.isprintable() and value else None
    try:
        if not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return kind(value)
    except (TypeError, ValueError, OverflowError):  # e.g. an int too large for a float
        return None
