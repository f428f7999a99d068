"""Model presets: a name for a checkpoint and the settings it renders best with.

`--model` takes a preset name, a Hugging Face repo id ("owner/name", optionally
"owner/name@revision") or a local diffusers directory; the latter two use the base
model's settings unless flags say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Lightricks' recommended negative prompt.
DEFAULT_NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"
# Room for enhanced prompts (~150 words is ~200 T5 tokens); Lightricks' own code uses 256.
MAX_SEQUENCE_LENGTH = 256


@dataclass(frozen=True)
class Preset:
    name: str
    repo_id: str
    revision: str | None
    steps: int
    guidance: float
    description: str
    gpu_memory: str
    timesteps: tuple[float, ...] | None = None
    decode_timestep: float = 0.0
    decode_noise_scale: float | None = None
    # LTXPipeline always sets its own sigmas, so custom timesteps raise there; the
    # distilled checkpoints need them, and LTXConditionPipeline takes them.
    pipeline_class: str = "LTXPipeline"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="ltx-video",
            repo_id="Lightricks/LTX-Video",
            # The revision Modal's own LTX example pins: reproducible across deploys.
            revision="a6d59ee37c13c58261aa79027d3e41cd41960925",
            steps=50,
            guidance=4.5,
            description="LTX-Video 2B, the seed's model: 50 steps, guidance 4.5",
            gpu_memory="~20 GB at 768x512x153 (bf16)",
        ),
        Preset(
            name="ltx-distilled",
            repo_id="Lightricks/LTX-Video-0.9.7-distilled",
            revision=None,
            steps=8,
            guidance=1.0,
            timesteps=(1000, 993, 987, 981, 975, 909, 725, 0.03),
            decode_timestep=0.05,
            decode_noise_scale=0.025,
            pipeline_class="LTXConditionPipeline",
            description="LTX-Video 0.9.7 13B distilled: 8 steps, no CFG, fastest per clip",
            gpu_memory="~45 GB at 768x512x153 (bf16); needs an 80 GB GPU",
        ),
    )
}


@dataclass(frozen=True)
class ModelSource:
    """Where to load weights from, plus the settings to use when flags don't say."""

    label: str  # what the user asked for, recorded with the clip
    location: str  # repo id or local directory
    revision: str | None
    defaults: Preset
    is_local_dir: bool


def _defaults_for_dir(path: Path) -> Preset:
    """A local checkpoint gets the distilled settings if its pipeline class says so."""
    import json

    try:
        index = json.loads((path / "model_index.json").read_text("utf-8"))
    except (OSError, ValueError):
        index = {}
    distilled = index.get("_class_name") == "LTXConditionPipeline" or "distilled" in path.name
    return PRESETS["ltx-distilled" if distilled else "ltx-video"]


def resolve_model(model: str) -> ModelSource:
    """Turn a --model value into a loadable source; raises ValueError if it can't be one."""
    value = model.strip()
    if value in PRESETS:
        preset = PRESETS[value]
        return ModelSource(value, preset.repo_id, preset.revision, preset, False)
    base = PRESETS["ltx-video"]
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(
                f"{value} is a directory but not a diffusers pipeline (no model_index.json)"
            )
        return ModelSource(value, str(path.resolve()), None, _defaults_for_dir(path), True)
    repo, _, revision = value.partition("@")
    parts = repo.split("/")
    if len(parts) == 2 and all(parts) and " " not in repo:
        distilled = "distilled" in repo.lower()
        defaults = PRESETS["ltx-distilled"] if distilled else base
        return ModelSource(value, repo, revision or None, defaults, False)
    names = ", ".join(PRESETS)
    raise ValueError(
        f"unknown model {value!r}: not a preset ({names}), a Hugging Face repo id "
        "(owner/name) or a local diffusers directory"
    )
