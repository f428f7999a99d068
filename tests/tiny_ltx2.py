"""A tiny random-weight LTX-2 pipeline (video with sound), built offline.

Saved with save_pretrained, it loads through exactly the code that loads a real
checkpoint (`LTX2Pipeline.from_pretrained`). Its video VAE has the real 32x spatial and
8x temporal compression (patchify 4, then down blocks of the real types), so sizes that
are not multiples of 32 and frame counts that are not 8k+1 behave as on the real model;
its audio path has the real rates (16 kHz mel, hop 160, vocoder x240 to 24 kHz stereo),
so the sound track lasts as long as the real model's. The text encoder is a tiny Gemma 3
with a tokenizer built in code (no download).
"""

from __future__ import annotations

from pathlib import Path

# The tiny Gemma's sizes: the connectors and the transformer must agree with them.
_GEMMA_HIDDEN = 16
_GEMMA_LAYERS = 2
_VOCAB = 64
_LATENT_CHANNELS = 8  # the video VAE's latent channels = the transformer's in_channels
_AUDIO_LATENT_CHANNELS = 2
_MEL_BINS = 16
# The tokenizer's model_max_length: what the pipeline pads prompts to by default.
_MAX_TOKENS = 128


def build_tiny_ltx2(directory: Path) -> Path:
    """Build the tiny pipeline and save it in `directory`; returns `directory`."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    text_encoder, tokenizer = _tiny_gemma()
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=_LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        # The audio latents are packed as channels x (mel_bins // 4).
        audio_in_channels=_AUDIO_LATENT_CHANNELS * (_MEL_BINS // 4),
        audio_out_channels=_AUDIO_LATENT_CHANNELS * (_MEL_BINS // 4),
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=2,
        qk_norm="rms_norm_across_heads",
        caption_channels=_GEMMA_HIDDEN,
        rope_double_precision=False,
        rope_type="split",
    )
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=_GEMMA_HIDDEN,
        # The pipeline stacks every Gemma hidden state: the embeddings and each layer's.
        text_proj_in_factor=_GEMMA_LAYERS + 1,
        video_connector_num_attention_heads=2,  # x head dim 8 = Gemma hidden size
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2,  # x head dim 8 = Gemma hidden size
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_theta=10000.0,
        rope_double_precision=False,
        causal_temporal_positioning=False,
        rope_type="split",
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        in_channels=3,
        out_channels=3,
        latent_channels=_LATENT_CHANNELS,
        # The real block types: patchify 4, then 2 (space), 2 (time), 2x2 (both) twice.
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 16, 32),  # each x2 upsample halves the channels
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )
    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        # Its latent statistics have base_channels entries, one per packed audio feature.
        base_channels=_AUDIO_LATENT_CHANNELS * (_MEL_BINS // 4),
        output_channels=2,
        ch_mult=(1,),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=32,
        latent_channels=_AUDIO_LATENT_CHANNELS,
        norm_type="pixel",
        causality_axis="height",
        dropout=0.0,
        mid_block_add_attention=False,
        sample_rate=16000,
        mel_hop_length=160,
        is_causal=True,
        mel_bins=_MEL_BINS,
    )
    torch.manual_seed(0)
    # 100 mel frames a second (16 kHz / hop 160) upsampled x240: 24 kHz, as the real one.
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * _MEL_BINS,
        hidden_channels=64,
        out_channels=2,
        upsample_kernel_sizes=[16, 15, 8, 4, 4],
        upsample_factors=[6, 5, 2, 2, 2],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1,
        output_sampling_rate=24000,
    )
    pipe = LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(directory)
    return directory


def build_tiny_ltx2_two_stage(directory: Path) -> Path:
    """The tiny pipeline with a tiny LTX-2 latent upsampler in its `latent_upsampler/`
    folder, as Lightricks' LTX-2.5 diffusers repository holds its own."""
    import torch
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    build_tiny_ltx2(directory)
    torch.manual_seed(0)
    upsampler = LTX2LatentUpsamplerModel(
        in_channels=_LATENT_CHANNELS,
        mid_channels=32,  # GroupNorm(32, ...) inside
        num_blocks_per_stage=1,
        dims=3,
        spatial_upsample=True,
        temporal_upsample=False,
    )
    upsampler.save_pretrained(directory / "latent_upsampler")
    return directory


def _tiny_gemma() -> tuple[object, object]:
    """A tiny Gemma 3 (with the tiny vision tower its class needs) and a tokenizer for it."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    # With no merges the tokens are single characters: different prompts, different ids.
    chars = list("▁abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    vocab = {token: i for i, token in enumerate(specials + chars)}
    assert len(vocab) <= _VOCAB
    tokenizer = GemmaTokenizer(vocab=vocab, merges=[], add_bos_token=True)
    tokenizer.model_max_length = _MAX_TOKENS  # else 1e30 is saved
    config = Gemma3Config(
        text_config={
            "vocab_size": _VOCAB,
            "hidden_size": _GEMMA_HIDDEN,
            "intermediate_size": 32,
            "num_hidden_layers": _GEMMA_LAYERS,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "sliding_window": 16,
            "max_position_embeddings": 512,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 28,
            "patch_size": 14,
        },
        mm_tokens_per_image=4,
        # Beyond the vocabulary: text prompts never hold them.
        boi_token_index=_VOCAB,
        eoi_token_index=_VOCAB + 1,
        image_token_index=_VOCAB + 2,
    )
    torch.manual_seed(0)
    return Gemma3ForConditionalGeneration(config).eval(), tokenizer
