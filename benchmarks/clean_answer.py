"""Seconds to clean a hostile LLM answer, by size: the figures behind "cleaning is linear".

    python benchmarks/clean_answer.py

Each shape made the old regex cleaning backtrack quadratically (100 KB of whitespace runs
took 82 s). Doubling the size should roughly double the time; anything over the cap
(llm_answer.MAX_ANSWER_CHARS) is refused before cleaning.
"""

from __future__ import annotations

import contextlib
import time

from pippa_cli.llm_answer import MAX_ANSWER_CHARS, NotAPrompt, clean_llm_output

SHAPES = {
    "whitespace runs": lambda n: (" \t" * n)[:n] + "\n",
    "label + spaces": lambda n: "the" + " " * n + "x",
    "endless heading": lambda n: "#" + " " * n + "a",
    "nested quotes": lambda n: '"' * n,
    "open fence": lambda n: "```" + " " * n,
    "control sequences": lambda n: ("\x1b[2J\x1b]0;t\x07a " * n)[:n],
}


def main() -> None:
    sizes = [MAX_ANSWER_CHARS // 4, MAX_ANSWER_CHARS // 2, MAX_ANSWER_CHARS]
    print(f"{'shape':<20}" + "".join(f"{size // 1024:>8} KB" for size in sizes))
    for name, make in SHAPES.items():
        row = []
        for size in sizes:
            text = make(size)[:MAX_ANSWER_CHARS]
            start = time.perf_counter()
            with contextlib.suppress(NotAPrompt):
                clean_llm_output(text)
            row.append(time.perf_counter() - start)
        print(f"{name:<20}" + "".join(f"{seconds * 1000:>8.1f} ms" for seconds in row))


if __name__ == "__main__":
    main()
