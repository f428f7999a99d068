"""Each preset's real architecture, built from its published configs with random weights.

The GPU machines that measure pippa's speed cannot download weights, and neither time nor
memory depends on the weights' values: `build_pipeline` builds the pipeline pippa's
`ltx.load_pipeline` would return for a preset, every component from the configs below,
with no download. `scale="full"` is the real size (built directly on the target device in
the target dtype: LTX-2.5's 22B transformer in float32 on a CPU would be 88 GB);
`scale="small"` is the same structure made narrow and shallow, every size that must agree
kept agreeing, so a 2-core CPU renders a small clip in seconds per step.

The configs instantiate with the installed diffusers 0.42.1 / transformers 5 classes;
where the diffusers mirror's conversion scripts (newer) carry keys this version lacks or
that are not model arguments (`model_id`), they are dropped and said so.
Tokenizers are built in code (the recipes of tests/tiny_ltx.py and tests/tiny_ltx2.py): their
vocabularies are smaller than the models', but prompts pad to max_sequence_length as the
pipelines do, so the text encoders run on as many tokens as with the real tokenizers.

Heavy imports stay inside the functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

FULL = "full"
SMALL = "small"
SCALES = (FULL, SMALL)

# --- LTX-Video 2B (Lightricks/LTX-Video @a6d59ee, the `ltx-video` preset) --------------

# diffusers scripts/convert_ltx_to_diffusers.py, get_transformer_config("0.9.1") (0.9.0 and
# 0.9.1 share it): the 2B DiT, 28 layers of 32 x 64.
LTX_2B_TRANSFORMER: dict[str, Any] = {
    "in_channels": 128,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 32,
    "attention_head_dim": 64,
    "cross_attention_dim": 2048,
    "num_layers": 28,
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "caption_channels": 4096,
    "attention_bias": True,
    "attention_out_bias": True,
}
# The VAE in the repository's diffusers folders is assumed to be 0.9.0's (the same
# script's get_vae_config("0.9.0")). Why 0.9.0: the repository's root diffusers
# folders are its first conversion (0.9.1 was published beside them as a single file,
# ltx-video-2b-v0.9.1.safetensors, and converted elsewhere), and the published 2B figures,
# transformer 1.92B + VAE 0.42B, are 0.9.0's: 0.9.1's VAE has 0.93B (a heavier decoder
# with timestep conditioning). If the pinned vae/config.json says timestep_conditioning
# true, set LTX_VIDEO_VAE (below) to LTX_091_VAE and its small scale to _SMALL_LTX_091_VAE.
LTX_090_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": (
        "LTXVideoDownBlock3D",
        "LTXVideoDownBlock3D",
        "LTXVideoDownBlock3D",
        "LTXVideoDownBlock3D",
    ),
    "decoder_block_out_channels": (128, 256, 512, 512),
    "layers_per_block": (4, 3, 3, 3, 4),
    "decoder_layers_per_block": (4, 3, 3, 3, 4),
    "spatio_temporal_scaling": (True, True, True, False),
    "decoder_spatio_temporal_scaling": (True, True, True, False),
    "decoder_inject_noise": (False, False, False, False, False),
    "downsample_type": ("conv", "conv", "conv", "conv"),
    "upsample_residual": (False, False, False, False),
    "upsample_factor": (1, 1, 1, 1),
    "patch_size": 4,
    "patch_size_t": 1,
    "resnet_norm_eps": 1e-6,
    "scaling_factor": 1.0,
    "encoder_causal": True,
    "decoder_causal": False,
    "timestep_conditioning": False,
}
# get_vae_config("0.9.1"): the alternative.
LTX_091_VAE: dict[str, Any] = {
    **LTX_090_VAE,
    "decoder_block_out_channels": (256, 512, 1024),
    "decoder_layers_per_block": (5, 6, 7, 8),
    "decoder_spatio_temporal_scaling": (True, True, True),
    "decoder_inject_noise": (True, True, True, False),
    "upsample_residual": (True, True, True),
    "upsample_factor": (2, 2, 2),
    "timestep_conditioning": True,
}
# The same script's scheduler for 0.9.0/0.9.1 (save_pipeline branch).
LTX_2B_SCHEDULER: dict[str, Any] = {
    "use_dynamic_shifting": True,
    "base_shift": 0.95,
    "max_shift": 2.05,
    "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
    "shift_terminal": 0.1,
}
# google/t5-v1_1-xxl's config.json (the script's text encoder): the encoder half of T5 v1.1
# XXL, gated-GELU feed-forward.
T5_XXL: dict[str, Any] = {
    "vocab_size": 32128,
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 24,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}

# --- LTX-Video 0.9.7 13B distilled (`ltx-distilled`, `ltx-hd`) --------------------------

# get_transformer_config("0.9.7"): 48 layers of 32 x 128.
LTX_13B_TRANSFORMER: dict[str, Any] = {
    **LTX_2B_TRANSFORMER,
    "attention_head_dim": 128,
    "cross_attention_dim": 4096,
    "num_layers": 48,
}
# get_vae_config("0.9.7").
LTX_097_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "block_out_channels": (128, 256, 512, 1024, 2048),
    "down_block_types": (
        "LTXVideo095DownBlock3D",
        "LTXVideo095DownBlock3D",
        "LTXVideo095DownBlock3D",
        "LTXVideo095DownBlock3D",
    ),
    "decoder_block_out_channels": (256, 512, 1024),
    "layers_per_block": (4, 6, 6, 2, 2),
    "decoder_layers_per_block": (5, 5, 5, 5),
    "spatio_temporal_scaling": (True, True, True, True),
    "decoder_spatio_temporal_scaling": (True, True, True),
    "decoder_inject_noise": (False, False, False, False),
    "downsample_type": ("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    "upsample_residual": (True, True, True),
    "upsample_factor": (2, 2, 2),
    "timestep_conditioning": True,
    "patch_size": 4,
    "patch_size_t": 1,
    "resnet_norm_eps": 1e-6,
    "scaling_factor": 1.0,
    "encoder_causal": True,
    "decoder_causal": False,
    "spatial_compression_ratio": 32,
    "temporal_compression_ratio": 8,
}
# The script's 0.9.5/0.9.7 scheduler: no dynamic shifting.
LTX_097_SCHEDULER: dict[str, Any] = {"use_dynamic_shifting": False}
# get_spatial_latent_upsampler_config("0.9.7"): Lightricks/ltxv-spatial-upscaler-0.9.7.
LTX_097_UPSAMPLER: dict[str, Any] = {
    "in_channels": 128,
    "mid_channels": 512,
    "num_blocks_per_stage": 4,
    "dims": 3,
    "spatial_upsample": True,
    "temporal_upsample": False,
}

# --- LTX-2.5 22B distilled (Lightricks/LTX-2.5-Diffusers: `ltx-2`, `ltx-2-hd`) ----------

# scripts/convert_ltx2_to_diffusers.py, get_ltx2_transformer_config("2.5") (all its keys
# exist in diffusers 0.42.1): 48 layers, video 32 x 128, audio 32 x 64.
LTX2_TRANSFORMER: dict[str, Any] = {
    "in_channels": 128,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 32,
    "attention_head_dim": 128,
    "cross_attention_dim": 4096,
    "vae_scale_factors": (8, 32, 32),
    "pos_embed_max_pos": 20,
    "base_height": 2048,
    "base_width": 2048,
    "gated_attn": True,
    "cross_attn_mod": True,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_patch_size": 1,
    "audio_patch_size_t": 1,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "audio_cross_attention_dim": 2048,
    "audio_scale_factor": 4,
    "audio_pos_embed_max_pos": 20,
    "audio_sampling_rate": 16000,
    "audio_hop_length": 160,
    "audio_gated_attn": True,
    "audio_cross_attn_mod": True,
    "num_layers": 48,
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "caption_channels": 3840,
    "attention_bias": True,
    "attention_out_bias": True,
    "rope_theta": 10000.0,
    "rope_double_precision": True,
    "causal_offset": 1,
    "timestep_scale_multiplier": 1000,
    "cross_attn_timestep_scale_multiplier": 1000,
    "rope_type": "split",
    "use_prompt_embeddings": False,
    "perturbed_attn": True,
    "ff_bias": False,
    "use_keyframes_abs_pos_embedding": True,
}
# The text encoder. LTX-2.5 pairs with a Gemma 4 (`gemma4_unified`) checkpoint whose
# config the conversion script reads from the Hub ("not a single fixed checkpoint") and
# which is not published anywhere readable offline; Gemma 3 12B (LTX-2.0/2.3's encoder,
# google/gemma-3-12b-it's config.json) stands in for it: a 12B Gemma of the same width
# (3840, the transformer's caption_channels) and the size of the ~22 GB encoder the
# `ltx-2` preset budgets. text_proj_in_factor below follows it (48 layers + embeddings).
GEMMA3_12B_TEXT: dict[str, Any] = {
    "vocab_size": 262208,
    "hidden_size": 3840,
    "intermediate_size": 15360,
    "num_hidden_layers": 48,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 256,
    "query_pre_attn_scalar": 256,
    "sliding_window": 1024,
    "max_position_embeddings": 131072,
}
# Gemma 3's SigLIP vision tower (google/gemma-3-12b-it's vision_config): loaded with the
# model though a text prompt never runs it.
GEMMA3_VISION: dict[str, Any] = {
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "image_size": 896,
    "patch_size": 14,
    "vision_use_head": False,
}
GEMMA3_MM_TOKENS = 256
# get_ltx2_connectors_config("2.5"), with caption_channels and text_proj_in_factor derived
# from the text encoder's config as the script does.
LTX2_CONNECTORS: dict[str, Any] = {
    "caption_channels": GEMMA3_12B_TEXT["hidden_size"],
    "text_proj_in_factor": GEMMA3_12B_TEXT["num_hidden_layers"] + 1,
    "video_connector_num_attention_heads": 32,
    "video_connector_attention_head_dim": 128,
    "video_connector_num_layers": 8,
    "video_connector_num_learnable_registers": 128,
    "video_gated_attn": True,
    "audio_connector_num_attention_heads": 32,
    "audio_connector_attention_head_dim": 64,
    "audio_connector_num_layers": 8,
    "audio_connector_num_learnable_registers": 128,
    "audio_gated_attn": True,
    "connector_rope_base_seq_len": 4096,
    "rope_theta": 10000.0,
    "rope_double_precision": True,
    "causal_temporal_positioning": False,
    "rope_type": "split",
    "per_modality_projections": True,
    "video_hidden_dim": 4096,
    "audio_hidden_dim": 2048,
    "proj_bias": True,
}
# get_ltx2_video_vae_config("2.5") (the 2.3 block structure); timestep_conditioning False,
# the script's default (its --timestep_conditioning flag).
LTX2_VIDEO_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "block_out_channels": (256, 512, 1024, 1024),
    "down_block_types": (
        "LTX2VideoDownBlock3D",
        "LTX2VideoDownBlock3D",
        "LTX2VideoDownBlock3D",
        "LTX2VideoDownBlock3D",
    ),
    "decoder_block_out_channels": (256, 512, 512, 1024),
    "layers_per_block": (4, 6, 4, 2, 2),
    "decoder_layers_per_block": (4, 6, 4, 2, 2),
    "spatio_temporal_scaling": (True, True, True, True),
    "decoder_spatio_temporal_scaling": (True, True, True, True),
    "decoder_inject_noise": (False, False, False, False, False),
    "downsample_type": ("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    "upsample_type": ("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
    "upsample_residual": (False, False, False, False),
    "upsample_factor": (2, 2, 1, 2),
    "timestep_conditioning": False,
    "patch_size": 4,
    "patch_size_t": 1,
    "resnet_norm_eps": 1e-6,
    "encoder_causal": True,
    "decoder_causal": False,
    "encoder_spatial_padding_mode": "zeros",
    "decoder_spatial_padding_mode": "zeros",
    "spatial_compression_ratio": 32,
    "temporal_compression_ratio": 8,
}
# get_ltx2_audio_vae_config("2.5").
LTX2_AUDIO_VAE: dict[str, Any] = {
    "base_channels": 128,
    "output_channels": 2,
    "ch_mult": (1, 2, 4),
    "num_res_blocks": 2,
    "attn_resolutions": None,
    "in_channels": 2,
    "resolution": 256,
    "latent_channels": 8,
    "norm_type": "pixel",
    "causality_axis": "height",
    "dropout": 0.0,
    "mid_block_add_attention": False,
    "sample_rate": 16000,
    "mel_hop_length": 160,
    "is_causal": True,
    "mel_bins": 64,
    "double_z": True,
}
# get_ltx2_vocoder_config("2.5"): the vocoder with bandwidth extension to 48 kHz
# (LTX2VocoderWithBWE, as the script builds it for 2.3/2.5).
LTX2_VOCODER: dict[str, Any] = {
    "in_channels": 128,
    "hidden_channels": 1536,
    "out_channels": 2,
    "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
    "upsample_factors": [5, 2, 2, 2, 2, 2],
    "resnet_kernel_sizes": [3, 7, 11],
    "resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "act_fn": "snakebeta",
    "leaky_relu_negative_slope": 0.1,
    "antialias": True,
    "antialias_ratio": 2,
    "antialias_kernel_size": 12,
    "final_act_fn": None,
    "final_bias": False,
    "bwe_in_channels": 128,
    "bwe_hidden_channels": 512,
    "bwe_out_channels": 2,
    "bwe_upsample_kernel_sizes": [12, 11, 4, 4, 4],
    "bwe_upsample_factors": [6, 5, 2, 2, 2],
    "bwe_resnet_kernel_sizes": [3, 7, 11],
    "bwe_resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "bwe_act_fn": "snakebeta",
    "bwe_leaky_relu_negative_slope": 0.1,
    "bwe_antialias": True,
    "bwe_antialias_ratio": 2,
    "bwe_antialias_kernel_size": 12,
    "bwe_final_act_fn": None,
    "bwe_final_bias": False,
    "filter_length": 512,
    "hop_length": 80,
    "window_length": 512,
    "num_mel_channels": 64,
    "input_sampling_rate": 16000,
    "output_sampling_rate": 48000,
}
# The script has no "2.5" upsampler config (it raises): 2.3's, get_ltx2_spatial_latent_
# upsampler_config("2.3"), as 2.5 keeps 2.3's latent space (its VAE is 2.3's).
LTX2_UPSAMPLER: dict[str, Any] = {
    "in_channels": 128,
    "mid_channels": 1024,
    "num_blocks_per_stage": 4,
    "dims": 3,
    "spatial_upsample": True,
    "temporal_upsample": False,
    "rational_spatial_scale": 2.0,
    "use_rational_resampler": False,
}
# The distilled checkpoint's scheduler (the script's is_distilled_ckpt branch; the
# diffusers LTX-2 docs: the repository's scheduler/ is configured so).
LTX2_SCHEDULER: dict[str, Any] = {
    "use_dynamic_shifting": False,
    "base_shift": 0.95,
    "max_shift": 2.05,
    "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
    "shift_terminal": None,
}

# --- The small scale: the same structure, narrow and shallow -----------------------------
# Overrides of the full configs. Kept as they are: every latent channel count (128, so the
# transformers' in/out channels and the upsamplers agree with the VAEs), the VAEs' block
# structure (32x spatial, 8x temporal compression), the audio rates and mel bins, the
# connectors' 128 registers (LTX-2's prompt length must be a multiple of them). Narrowed
# together: each attention width (heads x head dim) = its cross_attention_dim = the
# connectors' hidden dim; caption_channels = the text encoder's width.
_SMALL_T5 = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4, "num_layers": 2}
_SMALL_LTX_TRANSFORMER = {
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 16,
    "num_layers": 2,
    "caption_channels": _SMALL_T5["d_model"],
}
_SMALL_LTX_090_VAE = {
    "block_out_channels": (8, 16, 32, 32),
    "decoder_block_out_channels": (8, 16, 32, 32),
    "layers_per_block": (1, 1, 1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1, 1, 1),
}
_SMALL_LTX_091_VAE = {
    "block_out_channels": (8, 16, 32, 32),
    "decoder_block_out_channels": (16, 32, 64),
    "layers_per_block": (1, 1, 1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1, 1),
}
_SMALL_LTX_097_VAE = {
    "block_out_channels": (8, 16, 32, 64, 128),
    "decoder_block_out_channels": (16, 32, 64),
    "layers_per_block": (1, 1, 1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1, 1),
}
_SMALL_LTX_UPSAMPLER = {"mid_channels": 32, "num_blocks_per_stage": 1}  # GroupNorm(32, .)
_SMALL_GEMMA_TEXT = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "query_pre_attn_scalar": 8,
    "sliding_window": 16,
}
_SMALL_GEMMA_VISION = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 28,
    "patch_size": 14,
}
_SMALL_LTX2_TRANSFORMER = {
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 16,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 4,
    "audio_cross_attention_dim": 8,
    "num_layers": 2,
    "caption_channels": _SMALL_GEMMA_TEXT["hidden_size"],
}
_SMALL_LTX2_CONNECTORS = {
    "caption_channels": _SMALL_GEMMA_TEXT["hidden_size"],
    "text_proj_in_factor": _SMALL_GEMMA_TEXT["num_hidden_layers"] + 1,
    "video_connector_num_attention_heads": 2,
    "video_connector_attention_head_dim": 8,
    "video_connector_num_layers": 1,
    "audio_connector_num_attention_heads": 2,
    "audio_connector_attention_head_dim": 4,
    "audio_connector_num_layers": 1,
    "video_hidden_dim": 16,
    "audio_hidden_dim": 8,
}
_SMALL_LTX2_VIDEO_VAE = {
    "block_out_channels": (8, 16, 32, 32),
    "decoder_block_out_channels": (8, 16, 16, 32),
    "layers_per_block": (1, 1, 1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1, 1, 1),
}
# base_channels stays 128: the latent statistics have one entry per packed audio feature
# (latent_channels x mel_bins / 4 = 128).
_SMALL_LTX2_AUDIO_VAE = {"ch_mult": (1, 2), "num_res_blocks": 1}
# Each upsampling stage halves the channels: 6 stages from 128 leave 2 (the full 1536, 24),
# the bandwidth extension's 5 from 64 leave 2 (the full 512, 16).
_SMALL_LTX2_VOCODER = {
    "hidden_channels": 128,
    "resnet_kernel_sizes": [3],
    "resnet_dilations": [[1, 3, 5]],
    "bwe_hidden_channels": 64,
    "bwe_resnet_kernel_sizes": [3],
    "bwe_resnet_dilations": [[1, 3, 5]],
}


@dataclass(frozen=True)
class Component:
    """One model of a pipeline: how to build it and its full-size config."""

    kind: str  # a key of _BUILDERS
    config: dict[str, Any]
    small: dict[str, Any] = field(default_factory=dict)  # the small scale's overrides

    def config_at(self, scale: str) -> dict[str, Any]:
        return dict(self.config) if scale == FULL else {**self.config, **self.small}


@dataclass(frozen=True)
class Architecture:
    """A preset's pipeline: its class, its models by component name, its scheduler."""

    pipeline_class: str
    components: dict[str, Component]
    scheduler: dict[str, Any]
    upsampler: Component | None = None


_T5 = Component("t5", T5_XXL, _SMALL_T5)
_GEMMA = Component(
    "gemma3",
    {"text": GEMMA3_12B_TEXT, "vision": GEMMA3_VISION},
    {
        "text": {**GEMMA3_12B_TEXT, **_SMALL_GEMMA_TEXT},
        "vision": {**GEMMA3_VISION, **_SMALL_GEMMA_VISION},
    },
)
_LTX_13B = {
    "transformer": Component("ltx_transformer", LTX_13B_TRANSFORMER, _SMALL_LTX_TRANSFORMER),
    "vae": Component("ltx_vae", LTX_097_VAE, _SMALL_LTX_097_VAE),
    "text_encoder": _T5,
}
_LTX2 = {
    "transformer": Component("ltx2_transformer", LTX2_TRANSFORMER, _SMALL_LTX2_TRANSFORMER),
    "connectors": Component("ltx2_connectors", LTX2_CONNECTORS, _SMALL_LTX2_CONNECTORS),
    "vae": Component("ltx2_video_vae", LTX2_VIDEO_VAE, _SMALL_LTX2_VIDEO_VAE),
    "audio_vae": Component("ltx2_audio_vae", LTX2_AUDIO_VAE, _SMALL_LTX2_AUDIO_VAE),
    "vocoder": Component("ltx2_vocoder", LTX2_VOCODER, _SMALL_LTX2_VOCODER),
    "text_encoder": _GEMMA,
}
# The 2B's VAE (see LTX_090_VAE for why 0.9.0's) and its small scale.
LTX_VIDEO_VAE, _SMALL_LTX_VIDEO_VAE = LTX_090_VAE, _SMALL_LTX_090_VAE

ARCHITECTURES: dict[str, Architecture] = {
    "ltx-video": Architecture(
        "LTXPipeline",
        {
            "transformer": Component("ltx_transformer", LTX_2B_TRANSFORMER, _SMALL_LTX_TRANSFORMER),
            "vae": Component("ltx_vae", LTX_VIDEO_VAE, _SMALL_LTX_VIDEO_VAE),
            "text_encoder": _T5,
        },
        LTX_2B_SCHEDULER,
    ),
    "ltx-distilled": Architecture("LTXConditionPipeline", _LTX_13B, LTX_097_SCHEDULER),
    "ltx-hd": Architecture(
        "LTXConditionPipeline",
        _LTX_13B,
        LTX_097_SCHEDULER,
        Component("ltx_upsampler", LTX_097_UPSAMPLER, _SMALL_LTX_UPSAMPLER),
    ),
    "ltx-2": Architecture("LTX2Pipeline", _LTX2, LTX2_SCHEDULER),
    "ltx-2-hd": Architecture(
        "LTX2Pipeline",
        _LTX2,
        LTX2_SCHEDULER,
        Component("ltx2_upsampler", LTX2_UPSAMPLER, _SMALL_LTX_UPSAMPLER),
    ),
}


def _build_model(kind: str, config: dict[str, Any]) -> Any:
    """A model of `kind` from `config`, with the (random) initial weights of its class."""
    import diffusers

    if kind == "t5":
        from transformers import T5Config, T5EncoderModel

        encoder: Any = T5EncoderModel(T5Config(**config))
        return encoder.eval()
    if kind == "gemma3":
        from transformers import Gemma3Config, Gemma3ForConditionalGeneration

        vocab = config["text"]["vocab_size"]
        # Image-token ids: a full Gemma's own defaults; a small one's just past its vocabulary.
        ids = (
            {}
            if vocab == GEMMA3_12B_TEXT["vocab_size"]
            else {
                "boi_token_index": vocab,
                "eoi_token_index": vocab + 1,
                "image_token_index": vocab + 2,
            }
        )
        tokens = GEMMA3_MM_TOKENS if ids == {} else 4
        gemma = Gemma3Config(
            text_config=config["text"],
            vision_config=config["vision"],
            mm_tokens_per_image=tokens,
            **ids,
        )
        return Gemma3ForConditionalGeneration(gemma).eval()
    classes = {
        "ltx_transformer": diffusers.LTXVideoTransformer3DModel,
        "ltx_vae": diffusers.AutoencoderKLLTXVideo,
        "ltx2_transformer": diffusers.LTX2VideoTransformer3DModel,
        "ltx2_video_vae": diffusers.AutoencoderKLLTX2Video,
        "ltx2_audio_vae": diffusers.AutoencoderKLLTX2Audio,
    }
    model: Any
    if kind in classes:
        model = classes[kind](**config)
    elif kind == "ltx_upsampler":
        from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

        model = LTXLatentUpsamplerModel(**config)
    elif kind == "ltx2_upsampler":
        from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

        model = LTX2LatentUpsamplerModel(**config)
    elif kind == "ltx2_connectors":
        from diffusers.pipelines.ltx2 import LTX2TextConnectors

        model = LTX2TextConnectors(**config)
    elif kind == "ltx2_vocoder":
        from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE

        model = LTX2VocoderWithBWE(**config)
    else:
        raise ValueError(f"unknown component kind {kind!r}")
    return model.eval()


@contextmanager
def _building(device: str, dtype: Any) -> Iterator[None]:
    """New tensors are made on `device` in `dtype`: a full-size model never exists in
    float32 on the CPU first."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def _check(preset: str, scale: str) -> Architecture:
    if preset not in ARCHITECTURES:
        raise ValueError(
            f"no architecture for preset {preset!r}: one of {', '.join(ARCHITECTURES)}"
        )
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    return ARCHITECTURES[preset]


def build_models(preset: str, scale: str, device: str, dtype: Any) -> dict[str, Any]:
    """The preset's models by component name ("latent_upsampler" too, for a two-stage
    preset), random weights seeded per component: two builds are identical."""
    import torch

    architecture = _check(preset, scale)
    wanted = dict(architecture.components)
    if architecture.upsampler is not None:
        wanted["latent_upsampler"] = architecture.upsampler
    models = {}
    with _building(device, dtype):
        for number, (name, component) in enumerate(wanted.items()):
            torch.manual_seed(number)  # on a CUDA device this seeds its generator too
            models[name] = _build_model(component.kind, component.config_at(scale))
    return models


def parameter_counts(preset: str, scale: str = FULL) -> dict[str, int]:
    """Parameters per component of the preset's architecture, built on the `meta` device
    (no memory, no weights)."""
    import torch

    models = build_models(preset, scale, "meta", torch.bfloat16)
    return {name: sum(p.numel() for p in model.parameters()) for name, model in models.items()}


def t5_tokenizer() -> Any:
    """A T5-style tokenizer built in code (tests/tiny_ltx.py's recipe): <pad> 0, </s> 1,
    <unk> 2 as T5's, then a few words; every other word is <unk>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>"] + [f"w{i}" for i in range(61)]
    word_level = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=word_level, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def gemma_tokenizer() -> Any:
    """A Gemma tokenizer built in code (tests/tiny_ltx2.py's recipe): Gemma's special
    tokens first (<pad> 0, <eos> 1, <bos> 2 as Gemma's), then single characters."""
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    chars = list("▁abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    vocab = {token: i for i, token in enumerate(specials + chars)}
    tokenizer = GemmaTokenizer(vocab=vocab, merges=[], add_bos_token=True)
    tokenizer.model_max_length = 1024
    return tokenizer


def build_pipeline(preset: str, scale: str, device: str, dtype: Any) -> Any:
    """The pipeline `pippa_cli.ltx.load_pipeline` returns for `preset` (LTXPipeline,
    LTXConditionPipeline, TwoStagePipelines, LTX2Pipeline or LTX2TwoStage, progress bars
    off), its models built on `device` in `dtype` (a torch dtype or its name) from the
    configs above, random weights, nothing downloaded."""
    import diffusers
    import torch

    from pippa_cli.ltx import _quiet_libraries

    _quiet_libraries()
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    architecture = _check(preset, scale)
    models = build_models(preset, scale, device, dtype)
    upsampler = models.pop("latent_upsampler", None)
    family_ltx2 = architecture.pipeline_class.startswith("LTX2")
    tokenizer = gemma_tokenizer() if family_ltx2 else t5_tokenizer()
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(**architecture.scheduler)
    pipeline_class = getattr(diffusers, architecture.pipeline_class)
    pipe = pipeline_class(scheduler=scheduler, tokenizer=tokenizer, **models)
    pipe.set_progress_bar_config(disable=True)
    if upsampler is None:
        return pipe
    return _two_stage(pipe, upsampler, family_ltx2)


def _two_stage(pipe: Any, model: Any, family_ltx2: bool) -> Any:
    """`pipe` and its latent upsampler as pippa's loaders pair them (sharing the VAE)."""
    upsampler: Any
    if family_ltx2:
        from diffusers import LTX2LatentUpsamplePipeline

        from pippa_cli.ltx2_two_stage import LTX2TwoStage

        upsampler = LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model)
        upsampler.set_progress_bar_config(disable=True)
        return LTX2TwoStage(pipe, upsampler)
    from diffusers import LTXLatentUpsamplePipeline

    from pippa_cli.ltx_two_stage import TwoStagePipelines

    upsampler = LTXLatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model)
    upsampler.set_progress_bar_config(disable=True)
    return TwoStagePipelines(pipe, upsampler)
