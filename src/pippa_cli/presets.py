"""Model presets: a name for a checkpoint and the settings it renders best with.

`--model` takes a preset name, a Hugging Face repo id ("owner/name", optionally
"owner/name@revision") or a local diffusers directory; the latter two use the base
model's settings unless flags say otherwise. Two-stage (HD) sources: the `ltx-hd` preset,
"owner/model[@rev]+owner/upsampler[@rev]" (what the Modal app is told to load), or a local
directory holding a `latent_upsampler/` folder (as in Lightricks' upscaler repositories).
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


# LTX's VAE compresses 32x in space: every size a stage renders is a multiple of this.
_SPATIAL = 32


@dataclass(frozen=True)
class TwoStage:
    """Lightricks' multi-scale recipe for the 0.9.7/0.9.8 distilled 13B (configs/ltxv-13b-
    0.9.8-distilled.yaml, `pipeline_type: multi-scale`; the diffusers LTX docs' example):
    stage one at 2/3 of the clip's size, the latent upsampler doubles it, a short refining
    pass at that size, decode (tiled), resize to the clip's size."""

    upsampler_repo: str
    upsampler_revision: str | None
    # The refining pass: the diffusers docs' timesteps, denoise_strength 0.999. diffusers
    # keeps int(5 x 0.999) = 4 of them (909 .. 0): the pass runs 4 steps, not 5.
    refine_timesteps: tuple[float, ...] = (1000, 909, 725, 421, 0)
    refine_strength: float = 0.999
    adain_factor: float = 1.0  # the docs' value: the upsampled latents keep stage one's stats
    first_scale: float = 2 / 3

    @property
    def refine_steps(self) -> int:
        return int(len(self.refine_timesteps) * self.refine_strength)

    def sizes(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((width, height) of stage one, of the refining pass): stage one is 2/3 of the
        clip rounded down to multiples of 32, the refining pass exactly twice that."""
        first = (
            int(width * self.first_scale) // _SPATIAL * _SPATIAL,
            int(height * self.first_scale) // _SPATIAL * _SPATIAL,
        )
        return first, (2 * first[0], 2 * first[1])

    def size_problem(self, width: int, height: int) -> str | None:
        """Why a clip this size cannot render two-stage (stage one under 64 px), or None."""
        (first_w, first_h), _ = self.sizes(width, height)
        if min(first_w, first_h) < 2 * _SPATIAL:
            return (
                f"{width}x{height} is too small for two stages: stage one renders at 2/3 "
                f"of it ({first_w}x{first_h}), at least 64 px a side; choose 96 or more"
            )
        return None


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
    # The clip's size when --width/--height are not given.
    width: int = 768
    height: int = 512
    # Lightricks' two-stage recipe, for the presets that run it.
    two_stage: TwoStage | None = None


# The 0.9.7 13B distilled checkpoint and its timesteps (Lightricks' distilled config),
# shared by ltx-distilled and ltx-hd's first stage.
_DISTILLED_REPO = "Lightricks/LTX-Video-0.9.7-distilled"
_DISTILLED_TIMESTEPS = (1000, 993, 987, 981, 975, 909, 725, 0.03)

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
            repo_id=_DISTILLED_REPO,
            # No commit could be looked up for this repository when the preset was written:
            # `pippa deploy --download` records the commit it fetched, and renders load
            # exactly that one from the cache (see modal_app/app.py).
            revision=None,
            steps=8,
            guidance=1.0,
            timesteps=_DISTILLED_TIMESTEPS,
            pipeline_class="LTXConditionPipeline",
            description="LTX-Video 0.9.7 13B distilled: 8 steps, no CFG, fastest per clip",
            gpu_memory="~45 GB at 768x512x153 (bf16); needs an 80 GB GPU",
            weights_gb=36.5,
            activation_gb_per_k_tokens=1.2,
            step_seconds=1.5,
        ),
        Preset(
            name="ltx-hd",
            # The distilled 13B of ltx-distilled (its weights are cached once for both).
            repo_id=_DISTILLED_REPO,
            # Not pinned, as ltx-distilled: `pippa deploy --download ltx-hd` records the
            # commits it fetched (both repositories) and renders load exactly those.
            revision=None,
            # Stage one: the distilled timesteps and guidance (as ltx-distilled).
            steps=8,
            guidance=1.0,
            timesteps=_DISTILLED_TIMESTEPS,
            pipeline_class="LTXConditionPipeline",
            description="LTX-Video 0.9.7 13B distilled, two-stage HD (Lightricks' multi-scale "
            "recipe): 8 steps at 2/3 size, latent upsampler x2, 4 refining steps; 1216x704",
            gpu_memory="~70 GB at 1216x704x121 (bf16, estimate); needs an 80 GB GPU",
            # + the latent upsampler (~0.5 GB in bf16).
            weights_gb=37.0,
            activation_gb_per_k_tokens=1.2,
            step_seconds=1.5,
            # The HD size: 2/3 of it is 800x448, refined at 1600x896, resized.
            width=1216,
            height=704,
            two_stage=TwoStage(
                upsampler_repo="Lightricks/ltxv-spatial-upscaler-0.9.7",
                # Not pinned either (no current commit could be looked up offline).
                upsampler_revision=None,
            ),
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
    # A two-stage model's latent upsampler (its `latent_upsampler/` folder): a repo id, or
    # the local directory itself.
    upsampler: str | None = None
    upsampler_revision: str | None = None

    @property
    def remote_label(self) -> str:
        """What the Modal container is told to load: the exact repo and revision, so it
        renders what this client means whatever its own preset table says."""
        if self.is_local_dir:
            return self.label
        label = _at(self.location, self.revision)
        if self.upsampler:
            label += "+" + _at(self.upsampler, self.upsampler_revision)
        return label

    def pinned(self, commit: str | None, upsampler_commit: str | None = None) -> ModelSource:
        """The same model at the exact commit(s) the weights cache holds."""
        if self.is_local_dir:
            return self
        source = dataclasses.replace(self, revision=commit) if commit else self
        if upsampler_commit and source.upsampler:
            source = dataclasses.replace(source, upsampler_revision=upsampler_commit)
        return source


def _at(location: str, revision: str | None) -> str:
    return f"{location}@{revision}" if revision else location


# A local directory holding this folder renders two-stage (ltx-hd's settings).
UPSAMPLER_FOLDER = "latent_upsampler"
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
        stages = preset.two_stage
        return ModelSource(
            value,
            preset.repo_id,
            preset.revision,
            preset,
            False,
            upsampler=stages.upsampler_repo if stages else None,
            upsampler_revision=stages.upsampler_revision if stages else None,
        )
    base = PRESETS["ltx-video"]
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(
                f"{value} is a directory but not a diffusers pipeline (no model_index.json)"
            )
        location = str(path.resolve())
        if (path / UPSAMPLER_FOLDER / "config.json").is_file():
            _defaults_for_dir(path)  # still an LTX pipeline
            return ModelSource(value, location, None, PRESETS["ltx-hd"], True, upsampler=location)
        return ModelSource(value, location, None, _defaults_for_dir(path), True)
    main, plus, upsampler = value.partition("+")
    if any(_looks_like_path(part.partition("@")[0]) for part in (main, upsampler) if part):
        raise ValueError(f"model directory {value} does not exist")
    repo, _, revision = main.partition("@")
    if plus:
        found = _hub_repo(repo, revision) and _hub_repo(*upsampler.partition("@")[::2])
        if found:
            ups_repo, _, ups_revision = upsampler.partition("@")
            return ModelSource(
                value,
                repo,
                revision or None,
                PRESETS["ltx-hd"],
                False,
                upsampler=ups_repo,
                upsampler_revision=ups_revision or None,
            )
    elif _hub_repo(repo, revision):
        distilled = "distilled" in repo.lower()
        defaults = PRESETS["ltx-distilled"] if distilled else base
        return ModelSource(value, repo, revision or None, defaults, False)
    names = ", ".join(PRESETS)
    raise ValueError(
        f"unknown model {value!r}: not a preset ({names}), a Hugging Face repo id "
        "(owner/name[@revision]) or a local diffusers directory"
    )


def _hub_repo(repo: str, revision: str) -> bool:
    """Whether `repo` and `revision` ("" for none) are well-formed for Hugging Face."""
    return bool(
        _REPO_ID.match(repo) and ".." not in repo and (not revision or _REVISION.match(revision))
    )
