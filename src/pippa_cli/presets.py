"""Model presets: a name for a checkpoint and the settings it renders best with.

`--model` takes a preset name, a Hugging Face repo id ("owner/name", optionally
"owner/name@revision") or a local diffusers directory; the latter two use the base
model's settings unless flags say otherwise.
"""

from __future__ import annotations

import dataclasses
import re
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
    # Lightricks decode 0.9.1+ VAEs at timestep 0.05 with noise 0.025 (configs/ltxv-2b-0.9.1
    # .yaml, the diffusers LTX docs); a VAE without timestep conditioning ignores both.
    decode_timestep: float = 0.05
    decode_noise_scale: float | None = 0.025
    # LTXPipeline always sets its own sigmas, so custom timesteps raise there; the
    # distilled checkpoints need them, and LTXConditionPipeline takes them.
    pipeline_class: str = "LTXPipeline"
    # The model's own figures, for refusing requests that cannot finish (see limits.py).
    # GPU memory of the weights in bf16 (transformer + T5-XXL + VAE), GiB.
    weights_gb: float = 14.5
    # Activations per 1,000 latent tokens while denoising (CFG doubles the batch), GiB.
    activation_gb_per_k_tokens: float = 0.5
    # Seconds per denoising step on an H100 at 768x512x153 (7,680 latent tokens).
    step_seconds: float = 0.5


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
            description="LTX-Video 2B: 50 steps, guidance 4.5, quality over speed",
            gpu_memory="~20 GB at 768x512x153 (bf16)",
        ),
        Preset(
            name="ltx-distilled",
            repo_id="Lightricks/LTX-Video-0.9.7-distilled",
            # No commit could be looked up for this repository when the preset was written:
            # `pippa deploy --download` records the commit it fetched, and renders load
            # exactly that one from the cache (see modal_app/app.py).
            revision=None,
            steps=8,
            guidance=1.0,
            timesteps=(1000, 993, 987, 981, 975, 909, 725, 0.03),
            pipeline_class="LTXConditionPipeline",
            description="LTX-Video 0.9.7 13B distilled: 8 steps, no CFG, fastest per clip",
            gpu_memory="~45 GB at 768x512x153 (bf16); needs an 80 GB GPU",
            weights_gb=36.5,
            activation_gb_per_k_tokens=1.2,
            step_seconds=1.5,
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

    @property
    def remote_label(self) -> str:
        """What the Modal container is told to load: the exact repo and revision, so it
        renders what this client means whatever its own preset table says."""
        if self.is_local_dir:
            return self.label
        return f"{self.location}@{self.revision}" if self.revision else self.location

    def pinned(self, commit: str | None) -> ModelSource:
        """The same model at the exact commit the weights cache holds."""
        if not commit or self.is_local_dir:
            return self
        return dataclasses.replace(self, revision=commit)


# The pipelines pippa's core can run (model_index.json's `_class_name`).
LTX_PIPELINES = ("LTXPipeline", "LTXConditionPipeline", "LTXImageToVideoPipeline")
# Hugging Face's rule for repo ids: owner/name of letters, digits, '.', '_' and '-'.
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def is_ltx_pipeline(index: object) -> bool:
    """Whether a parsed model_index.json describes a pipeline pippa can render with."""
    return isinstance(index, dict) and index.get("_class_name") in LTX_PIPELINES


def _defaults_for_dir(path: Path) -> Preset:
    """A local checkpoint gets the distilled settings if its pipeline class says so;
    raises ValueError when the directory is not an LTX-Video diffusers pipeline."""
    import json

    try:
        index = json.loads((path / "model_index.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}/model_index.json cannot be read: {exc}") from None
    if not is_ltx_pipeline(index):
        found = index.get("_class_name") if isinstance(index, dict) else None
        raise ValueError(
            f"{path} holds a {found or 'non-diffusers'} pipeline, not LTX-Video "
            f"({', '.join(LTX_PIPELINES)})"
        )
    distilled = index.get("_class_name") == "LTXConditionPipeline" or "distilled" in path.name
    return PRESETS["ltx-distilled" if distilled else "ltx-video"]


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~", "\\")) or value.count("/") > 1 or "\\" in value


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
    if _looks_like_path(value.partition("@")[0]):
        raise ValueError(f"model directory {value} does not exist")
    repo, _, revision = value.partition("@")
    if _REPO_ID.match(repo) and ".." not in repo and (not revision or _REVISION.match(revision)):
        distilled = "distilled" in repo.lower()
        defaults = PRESETS["ltx-distilled"] if distilled else base
        return ModelSource(value, repo, revision or None, defaults, False)
    names = ", ".join(PRESETS)
    raise ValueError(
        f"unknown model {value!r}: not a preset ({names}), a Hugging Face repo id "
        "(owner/name[@revision]) or a local diffusers directory"
    )
