"""Median wall time of `pippa --help` next to `python -c pass` and `modal --help`.

Targets: pippa --help at most a third of modal --help, and under 100 ms on 2 cores.
Run: python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def median_ms(command: list[str], runs: int) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    pippa = shutil.which("pippa") or sys.exit("pippa is not on PATH: pip install -e . first")
    modal = shutil.which("modal") or sys.exit("modal is not on PATH")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("pippa --help", [pippa, "--help"]),
        ("pippa enhance --help", [pippa, "enhance", "--help"]),
        ("modal --help", [modal, "--help"]),
    ]
    results = {name: median_ms(cmd, args.runs) for name, cmd in rows}
    for name, ms in results.items():
        print(f"{name:<22} {ms:8.1f} ms (median of {args.runs})")
    ratio = results["pippa --help"] / results["modal --help"]
    print(f"pippa/modal ratio      {ratio:8.2f}   (target <= 0.33)")
    print(
        f"pippa --help           {'meets' if results['pippa --help'] < 100 else 'misses'} "
        "the 100 ms target"
    )


if __name__ == "__main__":
    main()
