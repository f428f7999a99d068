"""A failed call's result, made and read by modal's own code (modal 1.6.4), offline.

The container side is modal's `IOContext.output_items_exception` (what a container sends
when the user's code raises); the client side is `_process_result`, which
`FunctionCall.get` runs on what the server hands back. Between them only the server's
transport is missing: nothing here is pippa's idea of what Modal does.
"""

from __future__ import annotations

import asyncio
import threading
import types
from collections.abc import Coroutine
from typing import Any

from modal._runtime.container_io_manager import IOContext
from modal._utils.function_utils import _process_result
from modal_proto import api_pb2


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, also from a thread that already runs a loop."""
    # No try/except here: modal's container code formats "the exception being handled",
    # which a caught RuntimeError would replace.
    if asyncio._get_running_loop() is None:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def container_result(exc: BaseException) -> api_pb2.FunctionPutOutputsItem:
    """What a Modal container sends when the user's code raised `exc` (call inside except:
    modal formats the traceback being handled)."""
    context = IOContext(
        input_ids=["in-test"],
        retry_counts=[0],
        function_call_ids=["fc-test"],
        attempt_tokens=[""],
        finalized_function=types.SimpleNamespace(
            supported_output_formats=[api_pb2.DATA_FORMAT_PICKLE]
        ),
        function_inputs=[api_pb2.FunctionInput(data_format=api_pb2.DATA_FORMAT_PICKLE)],
        function_call_invocation_types=[api_pb2.FUNCTION_CALL_INVOCATION_TYPE_ASYNC],
        is_batched=False,
        client=types.SimpleNamespace(_stub=None),  # used only to upload large payloads
        max_object_size_bytes=2 << 20,
        max_async_object_size_bytes=2 << 20,
    )
    [item] = _run(context.output_items_exception(0.0, "ta-01TESTTESTTESTTESTTESTTEST", exc))
    return item


def client_get(item: api_pb2.FunctionPutOutputsItem) -> Any:
    """What `FunctionCall.get` returns or raises for that result."""
    return _run(_process_result(item.result, item.data_format, stub=None, client=None))


def remote_raise(exc: BaseException) -> BaseException:
    """The exception a Modal client gets for a call whose code raised `exc` remotely."""
    try:
        raise exc
    except BaseException as raised:
        item = container_result(raised)
    try:
        client_get(item)
    except BaseException as received:
        return received
    raise AssertionError("modal returned a value for a failed call")


def server_status(status: int, exception: str = "") -> BaseException:
    """What a client gets for a result the server made itself (cancelled, timed out)."""
    try:
        _run(_process_result(api_pb2.GenericResult(status=status, exception=exception), 0, None))
    except BaseException as received:
        return received
    raise AssertionError("modal returned a value for a failed call")
