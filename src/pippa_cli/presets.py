"""Model presets: a name for a checkpoint and the settings it renders best with.

`--model` takes a preset name, a Hugging Face repo id ("owner/name", optionally
"owner/name@revision") or a local diffusers directory; the latter two use the base
model's settings unless flags say otherwise. Two-stage (HD) sources: the `ltx-hd` preset,
"owner/model[@rev]+owner/upsampler[@rev]" (what the Modal app is told to load), or a local
directory holding a `latent_upsampler/` folder (as in Lightricks' upscaler repositories).
An LTX-2 source (a repo named LTX-2 or ltx2, a directory whose model_index.json names an
LTX2 pipeline) gets the `ltx-2` preset's settings, two-stage `ltx-2-hd`'s.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pippa_cli.ltx import TwoStagePlan

# Lightricks' recommended negative prompt.
DEFAULT_NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"
# Room for enhanced prompts (~150 words is ~200 T5 tokens); Lightricks' own code uses 256.
MAX_SEQUENCE_LENGTH = 256


# LTX's VAE compresses 32x in space: every size a stage renders is a multiple of this.
_SPATIAL = 32

# Model families: what the core loads and how it renders (ltx.py, ltx2.py).
LTX_VIDEO = "ltx-video"  # LTX-Video 0.9.x: video only, T5 text encoder
LTX_2 = "ltx-2"  # LTX-2.x: video with synchronized audio, Gemma text encoder
# How messages name each family.
FAMILY_NAMES = {LTX_VIDEO: "LTX-Video", LTX_2: "LTX-2"}
# On a GPU with less memory than this, the container renders an LTX-2 model with model CPU
# offload (its text encoder and transformer take turns on the GPU) rather than resident:
# an 80 GB H100 cannot hold all ~66 GB of weights next to a render's activations.
OFFLOAD_BELOW_GB = 100.0


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
    # LTX-2's recipe (the diffusers LTX-2 docs): stage one at exactly half the clip's size,
    # the refining pass on these sigmas (re-noised to the first), at exactly the clip's
    # size: no resize, so the clip's sides must be multiples of 64. None for LTX-Video.
    refine_sigmas: tuple[float, ...] | None = None

    @property
    def refine_steps(self) -> int:
        if self.refine_sigmas is not None:
            return len(self.refine_sigmas)
        return int(len(self.refine_timesteps) * self.refine_strength)

    def sizes(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((width, height) of stage one, of the refining pass): stage one is 2/3 of the
        clip rounded down to multiples of 32, the refining pass exactly twice that."""
        first = (
            int(width * self.first_scale) // _SPATIAL * _SPATIAL,
            int(height * self.first_scale) // _SPATIAL * _SPATIAL,
        )
        return first, (2 * first[0], 2 * first[1])

    def plan(self, width: int, height: int) -> TwoStagePlan:
        """The plan a request of this size carries to the core (RenderRequest.two_stage)."""
        from pippa_cli.ltx import TwoStagePlan

        (first_width, first_height), _ = self.sizes(width, height)
        return TwoStagePlan(
            first_width=first_width,
            first_height=first_height,
            refine_timesteps=self.refine_timesteps,
            refine_strength=self.refine_strength,
            adain_factor=self.adain_factor,
            refine_sigmas=self.refine_sigmas,
        )

    def size_problem(self, width: int, height: int) -> str | None:
        """Why a clip this size cannot render two-stage (stage one under 64 px, or for
        LTX-2 a side that is not a multiple of 64), or None."""
        (first_w, first_h), refine = self.sizes(width, height)
        if self.refine_sigmas is not None and refine != (width, height):
            return (
                f"{width}x{height} cannot render in two stages: stage one renders at exactly "
                "half the size, so both sides must be multiples of 64"
            )
        if min(first_w, first_h) < 2 * _SPATIAL:
            share, least = ("half", 128) if self.refine_sigmas is not None else ("2/3", 96)
            return (
                f"{width}x{height} is too small for two stages: stage one renders at {share} "
                f"of it ({first_w}x{first_h}), at least 64 px a side; choose {least} or more"
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
    # The model family (LTX_VIDEO, LTX_2): which core renders it.
    family: str = LTX_VIDEO
    # The model renders a sound track with the video (LTX-2): an AAC track in the MP4.
    audio: bool = False
    # The frame rate when --fps is not given (LTX-2 is trained at 24).
    fps: int = 30
    # LTX-2 denoises on a sigma schedule (its distilled checkpoints' own), used when
    # --steps is the preset's; LTX-Video uses `timesteps` instead.
    sigmas: tuple[float, ...] | None = None
    # LTX-2's guidance terms beyond --guidance (diffusers' keywords: STG, modality
    # isolation, rescale, and the audio's own): a distilled checkpoint turns them all off.
    guidance_terms: tuple[tuple[str, float], ...] = ()
    # The model's own size limits (limits.py): the longest side, and the most latent
    # tokens (32x32 px x 8 frames each) one render may hold.
    max_side: int = 1280
    max_tokens: int = 40 * 22 * 33  # 1280x704 at 257 frames (Lightricks' "best below")
    # With model CPU offload (a GPU under OFFLOAD_BELOW_GB), the weights on the GPU at the
    # memory peak: those that denoise and decode together (LTX-2: the transformer, the
    # VAEs, the connectors and the vocoder), not the text encoder. None: never offloaded.
    offload_weights_gb: float | None = None
    # The most prompt tokens the text encoder is given: T5's 256 for LTX-Video (see
    # MAX_SEQUENCE_LENGTH); LTX-2's Gemma takes the pipeline's own 1024, room for a prompt
    # that describes sound as well.
    max_sequence_length: int = MAX_SEQUENCE_LENGTH

    @property
    def family_name(self) -> str:
        return FAMILY_NAMES[self.family]


# LTX-2.5 (Lightricks' diffusers-format repository; gated: accept its license on Hugging
# Face, then HF_TOKEN). Its `transformer/` is the distilled 22B DiT, its
# `latent_upsampler/` the x2 spatial upsampler; the commit is the one pinned below.
_LTX2_REPO = "Lightricks/LTX-2.5-Diffusers"
_LTX2_REVISION = "426936f8b22dc28e4def61e515478b0b7e4a53cc"
# The distilled schedule (diffusers.pipelines.ltx2.utils DISTILLED_SIGMA_VALUES, from
# Lightricks' ltx-pipelines) and the refining pass's (STAGE_2_DISTILLED_SIGMA_VALUES).
_LTX2_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875)
_LTX2_REFINE_SIGMAS = (0.909375, 0.725, 0.421875)
# A distilled checkpoint runs unguided: every guidance term off by name (the pipeline's
# defaults are the full model's: STG and modality guidance would each add a forward pass).
_LTX2_UNGUIDED = (
    ("stg_scale", 0.0),
    ("modality_scale", 1.0),
    ("guidance_rescale", 0.0),
    ("audio_guidance_scale", 1.0),
    ("audio_stg_scale", 0.0),
    ("audio_modality_scale", 1.0),
    ("audio_guidance_rescale", 0.0),
)
# LTX-2's model limits as pippa holds them: no side over 2048 and at most the tokens of
# the two-stage preset's 1536x1024 at 10 s (24 fps).
_LTX2_MAX_TOKENS = 48 * 32 * 31
# LTX2Pipeline's default prompt length (Gemma tokens).
_LTX2_MAX_SEQUENCE_LENGTH = 1024

# The 0.9.7 13B distilled checkpoint and its timesteps (Lightricks' distilled config),
# shared by ltx-distilled and ltx-hd's first stage.
_DISTILLED_REPO = "Lightricks/LTX-Video-0.9.7-distilled"
_DISTILLED_TIMESTEPS = (1000, 993, 987, 981, 975, 909, 725, 0.03)

# LTX-2's one-stage preset; ltx-2-hd is the same with the two-stage recipe.
_LTX2 = Preset(
    name="ltx-2",
    repo_id=_LTX2_REPO,
    revision=_LTX2_REVISION,
    steps=len(_LTX2_SIGMAS),
    guidance=1.0,
    sigmas=_LTX2_SIGMAS,
    guidance_terms=_LTX2_UNGUIDED,
    pipeline_class="LTX2Pipeline",
    family=LTX_2,
    audio=True,
    fps=24,
    description="LTX-2.5 22B distilled, video with sound: 8 steps, no guidance, 768x512 at 24 fps",
    gpu_memory="~66 GB of weights (bf16); on an 80 GB GPU the text encoder and the "
    "transformer take turns (model offload)",
    weights_gb=66.1,
    # Offloaded: the 35 GB transformer, the VAEs, connectors and vocoder (~9 GB);
    # the ~22 GB Gemma text encoder is back on the CPU while they run.
    offload_weights_gb=44.0,
    activation_gb_per_k_tokens=1.2,
    step_seconds=1.5,
    max_side=2048,
    max_tokens=_LTX2_MAX_TOKENS,
    max_sequence_length=_LTX2_MAX_SEQUENCE_LENGTH,
)

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
        _LTX2,
        dataclasses.replace(
            _LTX2,
            name="ltx-2-hd",
            description="LTX-2.5 22B distilled, two-stage HD with sound (the diffusers "
            "LTX-2 recipe): 8 steps at half size, latent upsampler x2, 3 refining steps; "
            "1536x1024",
            gpu_memory="~75 GB at 1536x1024x121 (bf16, estimate); model offload on 80 GB, "
            "resident on an H200",
            # + the latent upsampler (~1.2 GB in bf16).
            weights_gb=67.3,
            offload_weights_gb=45.2,
            width=1536,
            height=1024,
            two_stage=TwoStage(
                # The upsampler is in the model's own repository, at the same commit.
                upsampler_repo=_LTX2_REPO,
                upsampler_revision=_LTX2_REVISION,
                refine_timesteps=(),
                refine_strength=1.0,
                first_scale=0.5,
                refine_sigmas=_LTX2_REFINE_SIGMAS,
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
# The pipelines pippa's core can run (model_index.json's `_class_name`), by family.
LTX_VIDEO_PIPELINES = ("LTXPipeline", "LTXConditionPipeline", "LTXImageToVideoPipeline")
LTX2_PIPELINES = ("LTX2Pipeline", "LTX2ConditionPipeline", "LTX2ImageToVideoPipeline")
LTX_PIPELINES = LTX_VIDEO_PIPELINES + LTX2_PIPELINES
# A Hub repo whose name says LTX-2 (LTX-2, LTX-2.5-Diffusers, ltx2-...) gets LTX-2's settings.
_LTX2_NAME = re.compile(r"ltx-?2", re.IGNORECASE)
# Hugging Face's rule for repo ids: owner/name of letters, digits, '.', '_' and '-'.
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def is_ltx_pipeline(index: object) -> bool:
    """Whether a parsed model_index.json describes a pipeline pippa can render with."""
    return isinstance(index, dict) and index.get("_class_name") in LTX_PIPELINES


def pipeline_family(index: object) -> str | None:
    """The model family (LTX_VIDEO, LTX_2) of a parsed model_index.json, None if neither."""
    found = index.get("_class_name") if isinstance(index, dict) else None
    if found in LTX2_PIPELINES:
        return LTX_2
    return LTX_VIDEO if found in LTX_VIDEO_PIPELINES else None


def _defaults_for_dir(path: Path, *, two_stage: bool = False) -> Preset:
    """A local checkpoint's settings: LTX-2's for an LTX-2 pipeline class, else the
    distilled ones if its class or name says so (`two_stage`: the HD preset of its family);
    raises ValueError when the directory is not an LTX diffusers pipeline."""
    import json

    try:
        index = json.loads((path / "model_index.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}/model_index.json cannot be read: {exc}") from None
    if not is_ltx_pipeline(index):
        found = index.get("_class_name") if isinstance(index, dict) else None
        raise ValueError(
            f"{path} holds a {found or 'non-diffusers'} pipeline, not LTX-Video or LTX-2 "
            f"({', '.join(LTX_PIPELINES)})"
        )
    if pipeline_family(index) == LTX_2:
        return PRESETS["ltx-2-hd" if two_stage else "ltx-2"]
    if two_stage:
        return PRESETS["ltx-hd"]
    distilled = index.get("_class_name") == "LTXConditionPipeline" or "distilled" in path.name
    return PRESETS["ltx-distilled" if distilled else "ltx-video"]


def _defaults_for_repo(repo: str, *, two_stage: bool) -> Preset:
    """A Hub repo's settings, from its name: LTX-2's when it says LTX-2, the distilled
    ones when it says distilled, else the base model's (`two_stage`: the HD presets)."""
    if _LTX2_NAME.search(repo.partition("/")[2]):
        return PRESETS["ltx-2-hd" if two_stage else "ltx-2"]
    if two_stage:
        return PRESETS["ltx-hd"]
    return PRESETS["ltx-distilled" if "distilled" in repo.lower() else "ltx-video"]


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
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(
                f"{value} is a directory but not a diffusers pipeline (no model_index.json)"
            )
        location = str(path.resolve())
        if (path / UPSAMPLER_FOLDER / "config.json").is_file():
            defaults = _defaults_for_dir(path, two_stage=True)
            return ModelSource(value, location, None, defaults, True, upsampler=location)
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
                _defaults_for_repo(repo, two_stage=True),
                False,
                upsampler=ups_repo,
                upsampler_revision=ups_revision or None,
            )
    elif _hub_repo(repo, revision):
        defaults = _defaults_for_repo(repo, two_stage=False)
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
