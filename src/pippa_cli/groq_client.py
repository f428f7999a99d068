"""Talking to Groq: one chat completion, bounded in time, its failures made into reasons.

pippa's only contact with the groq SDK (enhancement, and `pippa doctor`'s key check),
imported inside functions so that `pippa --help` never loads it. One command's
requests share a GroqGate, which stops them all at a rejected key and spaces them out on
rate limits; every failure becomes a GroqUnavailable with a one-line reason and a hint,
which the caller turns into a fallback or an error.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from pippa_cli.llm_answer import NotAPrompt, clean_llm_output

if TYPE_CHECKING:
    from pippa_cli.settings import Settings


class GroqUnavailable(Exception):
    """Groq gave no prompt: a one-line reason, and a hint where there is one."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class _Stopped(BaseException):
    """Raised inside the SDK's request loop to end it: a BaseException, because the SDK
    retries every Exception a request raises."""

    def __init__(self, reason: GroqUnavailable | None = None) -> None:
        super().__init__(reason.reason if reason else "abandoned")
        self.reason = reason


# Rate-limit answers in a row (across a list's requests) before the rest are not sent.
_MAX_RATE_LIMITS = 5
_MAX_BACKOFF_S = 60.0


class GroqGate:
    """What one command's requests to Groq learn from each other's answers.

    A rejected key (401/403) stops every later request: they would all be rejected. Rate
    limits (429) make every request wait (Retry-After, else doubling delays); after
    several in a row the rest are not sent. httpx calls `before` and `after` around each
    request the SDK sends, its own retries included.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stopped: GroqUnavailable | None = None
        self._not_before = 0.0
        self._rate_limits = 0

    def before(self, abandoned: threading.Event) -> None:
        while True:
            if abandoned.is_set():
                raise _Stopped()  # the caller's deadline passed: send nothing more
            if self.stopped is not None:
                raise _Stopped(self.stopped)
            wait = self._not_before - time.monotonic()
            if wait <= 0:
                return
            abandoned.wait(min(wait, 0.25))

    def after(self, status: int, retry_after: float | None) -> None:
        with self._lock:
            if status in (401, 403):
                self.stopped = GroqUnavailable(
                    f"Groq rejected the API key ({status}); later prompts were not sent",
                    "Check GROQ_API_KEY; create a new key at https://console.groq.com/keys.",
                )
            elif status == 429:
                self._rate_limits += 1
                if self._rate_limits >= _MAX_RATE_LIMITS:
                    self.stopped = GroqUnavailable(
                        "Groq rate limit reached (429) again and again; later prompts were "
                        "not sent",
                        "Wait a minute, or lower --concurrency, and try again.",
                    )
                if retry_after is None:
                    retry_after = 0.5 * 2 ** (self._rate_limits - 1)
                delay = retry_after
                until = time.monotonic() + min(delay, _MAX_BACKOFF_S)
                self._not_before = max(self._not_before, until)
            elif status < 400:
                self._rate_limits = 0


def _retry_after(headers: Any) -> float | None:
    """The server's wait in seconds (the headers the SDK honours), if it gave a number."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers[name]) * scale)
        except (KeyError, ValueError):
            continue  # absent, or an HTTP date: the doubling delay will do
    return None


def ask_groq(
    key: str,
    messages: list[dict[str, str]],
    settings: Settings,
    gate: GroqGate | None,
    *,
    max_words: int = 150,
) -> str:
    """One chat completion, cleaned (cut near `max_words`, the words the prompt asked
    for), bounded by settings.enhance_timeout in total.

    The SDK retries 429/5xx/timeouts itself (honouring Retry-After); the worker thread
    enforces the overall deadline, so a hung server cannot hold the command, and once it
    has passed the abandoned worker sends nothing more.
    """
    from pippa_cli.deadline import DeadlineExceeded, call_with_deadline

    gate = gate or GroqGate()
    abandoned = threading.Event()
    try:
        return call_with_deadline(
            lambda: clean_llm_output(
                _create_completion(key, messages, settings, gate, abandoned), max_words
            ),
            settings.enhance_timeout,
            name="pippa-groq",
        )
    except DeadlineExceeded:
        abandoned.set()
        raise GroqUnavailable(
            f"Groq did not answer within {settings.enhance_timeout:g} s",
            "Try again, or raise PIPPA_ENHANCE_TIMEOUT.",
        ) from None
    except NotAPrompt as exc:
        raise GroqUnavailable(str(exc)) from None
    except BaseException as exc:
        raise _explain(exc, settings) from exc


def _create_completion(
    key: str,
    messages: list[dict[str, str]],
    settings: Settings,
    gate: GroqGate,
    abandoned: threading.Event,
) -> str:
    import groq
    import httpx

    def before(request: httpx.Request) -> None:
        gate.before(abandoned)

    def after(response: httpx.Response) -> None:
        gate.after(response.status_code, _retry_after(response.headers))

    client = groq.Groq(
        api_key=key,
        base_url=settings.groq_base_url,
        timeout=settings.enhance_timeout,
        max_retries=settings.enhance_retries,
        http_client=groq.DefaultHttpxClient(event_hooks={"request": [before], "response": [after]}),
    )
    try:
        completion = client.chat.completions.create(
            model=settings.enhance_model,
            messages=messages,  # type: ignore[arg-type]
            temperature=settings.enhance_temperature,
            max_tokens=settings.enhance_max_tokens,
        )
    finally:
        client.close()
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        raise GroqUnavailable("Groq returned a malformed answer") from None
    if content is None:
        return ""
    if not isinstance(content, str):
        raise GroqUnavailable("Groq returned a malformed answer")
    return content


def _explain(exc: BaseException, settings: Settings) -> GroqUnavailable:
    """Turn an SDK exception into a one-line reason and a hint."""
    if isinstance(exc, GroqUnavailable):
        return exc
    if isinstance(exc, _Stopped):
        return exc.reason or GroqUnavailable("enhancement abandoned")
    import groq

    retries = settings.enhance_retries
    tried = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
    if isinstance(exc, groq.AuthenticationError):
        return GroqUnavailable(
            "Groq rejected the API key (401)",
            "Check GROQ_API_KEY; create a new key at https://console.groq.com/keys.",
        )
    if isinstance(exc, groq.PermissionDeniedError):
        return GroqUnavailable("Groq refused the request (403)", "Check your Groq account.")
    if isinstance(exc, groq.NotFoundError):
        return GroqUnavailable(
            f"Groq does not serve model {settings.enhance_model!r} (404)",
            "Set PIPPA_ENHANCE_MODEL to a model listed at https://console.groq.com/docs/models.",
        )
    if isinstance(exc, groq.RateLimitError):
        return GroqUnavailable(
            f"Groq rate limit reached (429){tried}", "Wait a minute and try again."
        )
    if isinstance(exc, groq.APITimeoutError):
        return GroqUnavailable(
            f"Groq did not answer within {settings.enhance_timeout:g} s",
            "Try again, or raise PIPPA_ENHANCE_TIMEOUT.",
        )
    if isinstance(exc, groq.APIConnectionError):
        return GroqUnavailable("could not reach Groq", "Check your network connection.")
    if isinstance(exc, groq.APIStatusError):
        return GroqUnavailable(f"Groq answered with HTTP {exc.status_code}{tried}")
    if isinstance(exc, groq.APIResponseValidationError | ValueError):
        return GroqUnavailable("Groq returned a malformed answer")
    if isinstance(exc, Exception):
        return GroqUnavailable(f"enhancement failed ({type(exc).__name__})")
    raise exc


def list_models(key: str, base_url: str | None, timeout: float) -> None:
    """One cheap authenticated request, no retries (pippa doctor: is the key accepted?)."""
    import groq

    client = groq.Groq(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)
    client.models.list()


def trouble_kind(error: BaseException) -> str | None:
    """What a failed request says about the set-up: "rejected" (the key), "unreachable"
    (the network), or None (something else; its message tells)."""
    import groq

    if isinstance(error, groq.AuthenticationError):
        return "rejected"
    if isinstance(error, TimeoutError | groq.APIConnectionError):
        return "unreachable"
    return None
