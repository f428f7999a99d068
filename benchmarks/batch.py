"""Batch fan-out: 64 jobs against a Modal stand-in that takes 1 s per clip.

At concurrency 16 the ideal is 4 s (64 / 16 x 1 s); target: within 15% of it. For
comparison, the same list through a plain `while read` loop of `pippa generate` (one
process per clip, one clip at a time; measured on --loop-jobs lines, scaled to all).
Run: python benchmarks/batch.py [--jobs 64] [--concurrency 16] [--loop-jobs 8]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timed_modal import CLIP_S, TimedModal, make_clip  # noqa: E402


def run_batch(jobs: int, concurrency: int, work: Path) -> float:
    from pippa_cli.backends.modal_backend import ModalBackend
    from pippa_cli.batch import plan, run_batch
    from pippa_cli.batch_input import read_lines
    from pippa_cli.history import History
    from pippa_cli.output import Output
    from pippa_cli.settings import load_settings

    prompts = work / "prompts.txt"
    prompts.write_text("".join(f"clip number {i}: a red fox in snow\n" for i in range(jobs)))
    clips = work / "clips"
    clips.mkdir()
    settings = load_settings()
    backend = ModalBackend("pippa", "LTX", sdk=TimedModal())
    lines, errors = read_lines(str(prompts))
    defaults = {
        "duration": 5.0,
        "fps": 30,
        "width": 768,
        "height": 512,
        "steps": None,
        "guidance": None,
        "negative_prompt": None,
        "seed": None,
        "model": "ltx-video",
        "backend": "modal",
        "enhance": False,
    }
    planned, bad = plan(lines, defaults, clips, overwrite=False)
    assert not errors and not bad
    start = time.perf_counter()
    summary = run_batch(
        planned,
        settings,
        Output(quiet=True),
        History(work / "history.db"),
        backend,
        concurrency=concurrency,
        strict=False,
        keep_running=False,
        emit=lambda r: None,
    )
    elapsed = time.perf_counter() - start
    assert summary.count("completed") == jobs, summary.results[:3]
    return elapsed


def run_loop(jobs: int, work: Path) -> float:
    prompts = work / "loop.txt"
    prompts.write_text("".join(f"loop clip {i}: a red fox in snow\n" for i in range(jobs)))
    mp4 = work / "clip.mp4"
    mp4.write_bytes(make_clip())
    env = {**os.environ, "PIPPA_HOME": str(work / "loop-home"), "PIPPA_BENCH_MP4": str(mp4)}
    env.pop("GROQ_API_KEY", None)
    script = (
        f'while read -r p; do "{sys.executable}" "{HERE / "timed_modal.py"}" generate "$p" '
        f'--no-enhance -q --output-dir-unused 2>/dev/null || true; done < "{prompts}"'
    )
    script = script.replace(" --output-dir-unused", "")
    start = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True, cwd=work, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    made = len(list(work.glob("loop-clip-*.mp4")))
    assert made == jobs, f"the loop made {made} of {jobs} clips"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--loop-jobs", type=int, default=8)
    args = parser.parse_args()
    ideal = math.ceil(args.jobs / args.concurrency) * CLIP_S
    with tempfile.TemporaryDirectory() as tmp:
        batch = run_batch(args.jobs, args.concurrency, Path(tmp))
        loop = run_loop(args.loop_jobs, Path(tmp)) if args.loop_jobs else None
    print(f"{args.jobs} jobs x {CLIP_S:g} s, concurrency {args.concurrency}")
    print(
        f"pippa generate --from-file  {batch:7.2f} s (ideal {ideal:.2f} s, "
        f"ratio {batch / ideal:.3f}; target <= 1.15)"
    )
    if loop is not None:
        scaled = loop / args.loop_jobs * args.jobs
        print(
            f"while read; pippa generate  {loop:7.2f} s for {args.loop_jobs} jobs "
            f"-> ~{scaled:.1f} s for {args.jobs} ({scaled / batch:.0f}x slower)"
        )


if __name__ == "__main__":
    main()
