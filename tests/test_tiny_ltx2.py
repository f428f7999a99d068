"""The tiny LTX-2 pipelines load as a real checkpoint does and render video with sound."""

from __future__ import annotations

from pathlib import Path


def test_tiny_ltx2_loads_and_renders_video_with_sound(tiny_ltx2: Path) -> None:
    import torch
    from diffusers import LTX2Pipeline

    pipe = LTX2Pipeline.from_pretrained(tiny_ltx2, local_files_only=True)
    assert pipe.vae.spatial_compression_ratio == 32
    assert pipe.vae.temporal_compression_ratio == 8
    output = pipe(
        prompt="a red fox",
        width=64,
        height=64,
        num_frames=9,
        num_inference_steps=1,
        guidance_scale=1.0,
        stg_scale=0.0,
        modality_scale=1.0,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        max_sequence_length=128,
    )
    assert output.frames.shape == (1, 9, 64, 64, 3)
    assert output.audio.shape[:2] == (1, 2)  # stereo
    assert pipe.vocoder.config.output_sampling_rate == 24000


def test_tiny_ltx2_hd_has_its_upsampler(tiny_ltx2_hd: Path) -> None:
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    model = LTX2LatentUpsamplerModel.from_pretrained(tiny_ltx2_hd / "latent_upsampler")
    assert model.config.in_channels == 8
    assert (tiny_ltx2_hd / "model_index.json").read_text().count("LTX2Pipeline") == 1
