"""Turning an LLM's answer into a video prompt, or refusing it as not one.

Models wrap the prompt in preambles, labels, markdown, quotes and notes; the answer comes
from a server pippa does not control, so it is bounded in size and stripped of control
and bidi characters.
"""

from __future__ import annotations

import re

from pippa_cli.text import fold_whitespace, strip_controls, word_count

# Every step below is linear in the answer's length (a hostile or broken server may send
# megabytes of whitespace): whitespace is folded line by line before any pattern with
# repeats runs, and each pattern is anchored at the start of a short folded string.

# An answer longer than this is not a prompt (max_tokens allows ~8192 tokens at most).
MAX_ANSWER_CHARS = 32_768
# A prompt's longest run without a space (a CJK sentence has none; 1000 is ~3 prompts).
_MAX_RUN_CHARS = 1_000
# A little slack (a fifth) over the words the prompt asks for (enhancement.max_words:
# 150, 180 before the cut) before we cut: models overshoot by a few words.
_SLACK = 1.2

_FENCE_OPEN = re.compile(r"```[\w-]*")
_HEADING = re.compile(r"#{1,6}\s+(.*)")
_LABEL = re.compile(
    r"(?:(?:sure|certainly|okay|ok|of course|absolutely)[,!.]? ?)?"
    r"(?:here(?:'s|’s| is| are)\b[^:]{0,80}|(?:the )?(?:enhanced |improved |rewritten |final )?"
    r"(?:video )?prompt(?: for [^:]{0,60})?) ?: ?",
    re.IGNORECASE,
)
_CHATTER = re.compile(
    r"(?:\(?note\b|i hope\b|let me know\b|this (?:prompt|description)\b|feel free\b"
    r"|\(?word count\b)",
    re.IGNORECASE,
)
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“"}


class NotAPrompt(ValueError):
    """The answer cannot be a video prompt (too long, or one endless word)."""


def clean_llm_output(text: str, max_words: int = 150) -> str:
    """The enhanced prompt alone: no preamble, labels, markdown, wrapping quotes or notes,
    and no control or bidi character, cut at a sentence end a little past `max_words`.
    Raises NotAPrompt for an answer that is not one."""
    if len(text) > MAX_ANSWER_CHARS:
        raise NotAPrompt(f"Groq's answer is {len(text) // 1024} KB long, not a prompt")
    text = strip_controls(text).strip()
    if text.startswith("```"):
        text = text[_FENCE_OPEN.match(text).end() :]  # type: ignore[union-attr]
    text = text.removesuffix("```")
    kept: list[str] = []
    for paragraph in _paragraphs(text):
        if not paragraph.strip("-*_= "):
            continue  # a markdown horizontal rule such as ---
        paragraph = paragraph.replace("**", "").replace("__", "").lstrip("#> ").strip()
        label = _LABEL.match(paragraph)
        if label:
            paragraph = paragraph[label.end() :].strip()
        if not paragraph:
            continue
        if kept and _CHATTER.match(paragraph):
            break  # trailing notes and sign-offs
        if paragraph.endswith(":") and word_count(paragraph) <= 15:
            continue  # a lone preamble line such as "Here is your prompt:"
        kept.append(paragraph)
    cleaned = _strip_quotes(" ".join(kept))
    if any(len(word) > _MAX_RUN_CHARS for word in cleaned.split()):
        raise NotAPrompt("Groq's answer is one endless word, not a prompt")
    return _limit_words(cleaned, round(max_words * _SLACK))


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each folded to single spaces, short titles gone."""
    lines = [line.strip() for line in text.split("\n")]
    last_text = max((i for i, line in enumerate(lines) if line), default=-1)
    paragraphs: list[str] = []
    current: list[str] = []
    for index, line in enumerate(lines):
        if line and _is_dropped_title(line, is_last=index == last_text):
            line = ""
        if line:
            current.append(line)
        elif current:
            paragraphs.append(fold_whitespace(" ".join(current)))
            current = []
    if current:
        paragraphs.append(fold_whitespace(" ".join(current)))
    return paragraphs


def _is_dropped_title(line: str, *, is_last: bool) -> bool:
    """A short markdown heading or bold line (`## Enhanced Prompt`) that is not the
    prompt itself: not the only/last text, not a label (`Prompt:`), not a sentence."""
    heading = _HEADING.match(line)
    if heading:
        title = heading[1]
    elif len(line) > 4 and line.startswith("**") and line.endswith("**") and "*" not in line[2:-2]:
        title = line[2:-2]
    else:
        return False
    title = title.strip()
    is_prompt_text = ":" in title or title.endswith((".", "!", "?")) or word_count(title) > 15
    return not (is_last or is_prompt_text)


def _strip_quotes(text: str) -> str:
    for _ in range(3):  # nested wrapping quotes, a bounded number of times
        if len(text) < 2 or text[0] not in _QUOTE_PAIRS:
            break
        opening, closing = text[0], _QUOTE_PAIRS[text[0]]
        if text[-1] != closing or text.count(opening) != (2 if opening == closing else 1):
            break
        text = text[1:-1].strip()
    return text


def _limit_words(text: str, limit: int) -> str:
    """Cut an over-long answer at the last sentence end within `limit` words."""
    words = text.split()
    if len(words) <= limit:
        return text
    head = " ".join(words[:limit])
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    if head.endswith((".", "!", "?")):
        return head
    return head[: end + 1] if end > 0 else head
