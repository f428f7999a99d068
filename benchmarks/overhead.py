"""pippa's overhead over a bare diffusers script, on the tiny offline LTX model.

Both run as fresh processes (imports included) rendering the same clip: the bare script
loads the pipeline, renders and encodes the MP4 with PyAV; pippa does the same through
`pippa generate --backend local` plus validation, history and sidecar. Target: <= 1.10.
Run: python benchmarks/overhead.py [--runs 3] [--size 128] [--steps 4]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.tiny_ltx import build_tiny_ltx

BARE = """
import sys, av, numpy as np, torch
from diffusers import LTXPipeline
model, out, size, frames, fps, steps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
pipe = LTXPipeline.from_pretrained(model, dtype=torch.float32)
pipe.set_progress_bar_config(disable=True)
video = pipe("a red fox trotting through fresh snow", width=size, height=size,
             num_frames=frames, frame_rate=fps, num_inference_steps=steps, guidance_scale=4.5,
             generator=torch.Generator().manual_seed(7), output_type="np",
             max_sequence_length=256).frames[0]
video = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
with av.open(out, "w", format="mp4", options={"movflags": "+faststart"}) as c:
    s = c.add_stream("libx264", rate=fps)
    s.width, s.height, s.pix_fmt = size, size, "yuv420p"
    for f in video:
        c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
    c.mux(s.encode(None))
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    pippa = shutil.which("pippa") or sys.exit("pippa is not on PATH: pip install -e '.[local]'")
    fps, duration = 8, 3
    frames = 25  # what pippa renders for 3 s at 8 fps (8k+1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_ltx(work / "tiny")
        import os

        env = {**os.environ, "PIPPA_HOME": str(work / "home")}
        env.pop("GROQ_API_KEY", None)
        bare_cmd = [
            sys.executable,
            "-c",
            BARE,
            str(model),
            str(work / "bare.mp4"),
            str(args.size),
            str(frames),
            str(fps),
            str(args.steps),
        ]
        pippa_cmd = [
            pippa,
            "generate",
            "a red fox trotting through fresh snow",
            "--backend",
            "local",
            "--model",
            str(model),
            "--width",
            str(args.size),
            "--height",
            str(args.size),
            "--fps",
            str(fps),
            "--duration",
            str(duration),
            "--steps",
            str(args.steps),
            "--seed",
            "7",
            "--no-enhance",
            "-q",
            "--overwrite",
            "-o",
            str(work / "pippa.mp4"),
        ]
        timed(bare_cmd)  # warm caches
        bare, ours = [], []
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            bare.append(timed(bare_cmd))
            ours.append(timed(pippa_cmd, env))
    b, p = statistics.median(bare), statistics.median(ours)
    print(f"clip: {args.size}x{args.size}, {frames} frames, {args.steps} steps, tiny LTX, CPU")
    print(f"bare diffusers script  {b:7.2f} s (median of {args.runs})")
    print(f"pippa generate         {p:7.2f} s (median of {args.runs})")
    print(f"ratio                  {p / b:7.3f}   (target <= 1.10)")


if __name__ == "__main__":
    main()
