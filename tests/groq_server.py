"""A Groq-compatible chat-completions server on 127.0.0.1, for tests (a pytest plugin).

The `groq` fixture points GROQ_BASE_URL at pytest-httpserver and sets a fake GROQ_API_KEY,
so the real groq SDK talks to a local server whose answers each test chooses:

    groq.answer("A red fox ...")                  # a chat completion with this content
    groq.answer_status(500)                       # an error status (JSON error body)
    groq.answer_raw(b"{not json")                 # raw bytes
    groq.answer_after(5, "late")                  # a completion, after a delay
    groq.respond(status_response(429), completion_response("ok"))  # in turn; last repeats

`groq.requests` holds what the server answered; `groq.request_json()` the last body.
`groq.arrivals` has the time (time.monotonic) each request reached a handler, answered
yet or not: a request still held has arrived but is not in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

COMPLETIONS_PATH = "/openai/v1/chat/completions"
FAKE_KEY = "gsk_test_SECRET_123"
DEFAULT_MODEL = "meta-llama/llama-4-scout-17b-16e-instruct"

Answer = Callable[[Request], Response]


def chat_completion(content: str | None, model: str = DEFAULT_MODEL) -> dict[str, Any]:
    """An OpenAI-style chat completion as Groq sends it."""
    return {
        "id": "chatcmpl-test-0001",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200},
    }


def completion_response(content: str | None, model: str = DEFAULT_MODEL) -> Answer:
    body = json.dumps(chat_completion(content, model))
    return lambda _request: Response(body, status=200, content_type="application/json")


def status_response(status: int, headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps(
        {"error": {"message": f"test error {status}", "type": "test_error", "code": status}}
    )
    return lambda _request: Response(
        body, status=status, headers=headers, content_type="application/json"
    )


def raw_response(body: bytes, status: int = 200, content_type: str = "application/json") -> Answer:
    return lambda _request: Response(body, status=status, content_type=content_type)


class GroqServer:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base_url = server.url_for("/").rstrip("/")
        # Set at teardown so a handler still "sleeping" lets the server go at once.
        self._released = threading.Event()
        self.arrivals: list[float] = []  # when each request reached one of our handlers
        self._cleared = 0  # answered requests dropped from the log by `clear`

    def respond(self, *answers: Answer) -> None:
        """Answer requests with these in turn; the last one answers every later request."""
        queue = list(answers)

        def handler(request: Request) -> Response:
            request.get_data()  # cache the body so tests can read it after the request
            self.arrivals.append(time.monotonic())
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return answer(request)

        self.server.expect_request(COMPLETIONS_PATH, method="POST").respond_with_handler(handler)

    def answer(self, content: str | None, model: str = DEFAULT_MODEL) -> None:
        self.respond(completion_response(content, model))

    def answer_status(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.respond(status_response(status, headers))

    def answer_raw(self, body: bytes, status: int = 200) -> None:
        self.respond(raw_response(body, status))

    def answer_after(self, delay: float, content: str = "Too late.") -> None:
        late = completion_response(content)

        def slow(request: Request) -> Response:
            self._released.wait(delay)
            return late(request)

        self.respond(slow)

    @property
    def requests(self) -> list[Request]:
        return [request for request, _response in self.server.log]

    def request_json(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].get_data())

    def clear(self) -> None:
        """Forget the answers set up and the requests answered so far."""
        self._cleared += len(self.server.log)
        self.server.clear()

    def release(self) -> None:
        """Wake sleeping handlers and wait until they are logged, so that a late request
        cannot appear in the next test's log."""
        self._released.set()
        deadline = time.monotonic() + 5
        while (
            self._cleared + len(self.server.log) < len(self.arrivals)
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver listens on 127.0.0.1 (not `localhost`), on a free port."""
    return ("127.0.0.1", 0)


@pytest.fixture
def groq(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[GroqServer]:
    """A local Groq with a fake key in the environment; no answer is set up yet."""
    server = GroqServer(httpserver)
    monkeypatch.setenv("GROQ_BASE_URL", server.base_url)
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
    yield server
    server.release()
    httpserver.check_handler_errors()
