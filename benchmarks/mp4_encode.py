"""Seconds to encode a 5 s clip as pippa's MP4, per x264 preset, with size and fidelity.

The encode runs on the container's CPU after the GPU has finished (the GPU idles, billed,
meanwhile), so it must cost at most a few percent of a clip's time. The frames are
synthetic but video-like (a moving scene with smooth gradients, edges and film grain):
x264's cost depends on content, and random noise would overstate it.
Run: python benchmarks/mp4_encode.py [--runs 3] [--encoders veryfast:17 medium:18 ...]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time

import numpy as np

from pippa_cli.mp4 import CRF, X264_PRESET, encode_mp4

# (label, width, height, frames, fps, with sound): the presets' default 5 s clips.
CLIPS = (
    ("ltx-video 768x512x153 @30", 768, 512, 153, 30, False),
    ("ltx-hd 1216x704x153 @30", 1216, 704, 153, 30, False),
    ("ltx-2 768x512x121 @24 +sound", 768, 512, 121, 24, True),
    ("ltx-2-hd 1536x1024x121 @24 +sound", 1536, 1024, 121, 24, True),
)


def scene(width: int, height: int, frames: int) -> np.ndarray:
    """A camera pan over a lit gradient with moving discs and grain, as uint8 RGB."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        t = i / frames
        shift = x + 40 * t * width / 100
        base = np.stack(
            [
                0.5 + 0.4 * np.sin(shift / width * 3 + t),
                0.5 + 0.3 * np.cos(y / height * 2 + t * 2),
                0.4 + 0.3 * np.sin((shift + y) / (width + height) * 4),
            ],
            axis=-1,
        )
        for k in range(6):
            cx = (0.15 + 0.14 * k + 0.2 * t) % 1 * width
            cy = (0.3 + 0.1 * np.sin(k + 6 * t)) * height
            disc = (x - cx) ** 2 + (y - cy) ** 2 < (0.05 * height + 6 * k) ** 2
            base[disc] = (0.9 - 0.1 * k, 0.2 + 0.1 * k, 0.3)
        grain = rng.normal(0, 0.02, (height, width, 1)).astype(np.float32)
        out[i] = (np.clip(base + grain, 0, 1) * 255).astype(np.uint8)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


def decoded(mp4: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(mp4)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--encoders",
        nargs="+",
        default=[f"{X264_PRESET}:{CRF}", "medium:18", "fast:18"],
        help="x264 preset:CRF pairs (the first is pippa's)",
    )
    args = parser.parse_args()
    encoders = [(name, int(crf)) for name, crf in (e.split(":") for e in args.encoders)]
    print(f"CPU cores: {os.cpu_count()}; median of {args.runs}; yuv420p")
    print(f"{'clip':<36} {'x264':<12} {'seconds':>8} {'MB':>6} {'PSNR dB':>8}")
    for label, width, height, frames, fps, sound in CLIPS:
        video = scene(width, height, frames)
        audio = None
        if sound:
            t = np.arange(round(frames / fps * 48000)) / 48000
            audio = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]) * 0.3
        rate = 48000 if sound else None
        for preset, crf in encoders:
            times, mp4 = [], b""
            for _ in range(args.runs):
                start = time.perf_counter()
                mp4 = encode_mp4(video, fps, {}, audio, rate, x264_preset=preset, crf=crf)
                times.append(time.perf_counter() - start)
            quality = psnr(decoded(mp4), video)
            print(
                f"{label:<36} {preset + ' ' + str(crf):<12} {statistics.median(times):8.2f} "
                f"{len(mp4) / 1e6:6.2f} {quality:8.2f}"
            )


if __name__ == "__main__":
    main()
