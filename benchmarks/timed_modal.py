"""A timed stand-in for Modal's call objects, for benchmarks: every clip takes CLIP_S seconds.

`get(timeout)` blocks like the real long-poll (until the result is ready or the timeout
passes), so a benchmark measures pippa's orchestration, not a fake's polling interval.
Run as a script it is `pippa` with Modal replaced: python benchmarks/timed_modal.py generate ...
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any, ClassVar

CLIP_S = float(os.environ.get("PIPPA_BENCH_CLIP_S", "1.0"))


class _Call:
    def __init__(self, result: bytes) -> None:
        self.object_id = "fc-" + uuid.uuid4().hex[:20]
        self.ready_at = time.monotonic() + CLIP_S
        self.result = result

    def get(self, timeout: float | None = None) -> bytes:
        remaining = self.ready_at - time.monotonic()
        if remaining > 0:
            time.sleep(remaining if timeout is None else min(timeout, remaining))
            if time.monotonic() < self.ready_at:
                raise TimeoutError
        return self.result

    def cancel(self) -> None:
        self.ready_at = float("inf")


class TimedModal:
    """Drop-in for pippa_cli.backends.modal_client.ModalSDK (handed in, never patched)."""

    calls: ClassVar[dict[str, _Call]] = {}
    _lock = threading.Lock()

    def __init__(self, result: bytes | None = None) -> None:
        self.result = result if result is not None else _clip_bytes()

    def cls(self, app_name: str, class_name: str) -> Any:
        sdk = self

        class _Method:
            def spawn(self, request: dict[str, Any]) -> _Call:
                call = _Call(sdk.result)
                with TimedModal._lock:
                    TimedModal.calls[call.object_id] = call
                return call

        class _Instance:
            generate = _Method()

        return lambda model=None: _Instance()

    def function_call(self, call_id: str) -> _Call:
        return TimedModal.calls[call_id]

    def progress_dict(self) -> dict[str, Any]:
        return {}

    def lookup(self, app_name: str, class_name: str) -> None:
        return None  # deployed

    def deployments_dict(self) -> dict[str, Any]:
        """The app deployed by this pippa, every model's weights cached."""
        from pippa_cli.deployment import DeployConfig

        record = DeployConfig(max_containers=64).record()
        return _Records(record)

    def has_credentials(self) -> bool:
        return True


class _Records(dict):
    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__()
        self.record = record

    def get(self, key: str, default: Any = None) -> Any:
        return self.record if key.startswith("app:") else {"commit": "0" * 40}


def _clip_bytes() -> bytes:
    path = os.environ.get("PIPPA_BENCH_MP4")
    if path:
        with open(path, "rb") as handle:
            return handle.read()
    return make_clip()


def make_clip() -> bytes:
    import numpy as np

    from pippa_cli.mp4 import encode_mp4

    frames = np.random.default_rng(0).integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
    return encode_mp4(frames, 8, {})


if __name__ == "__main__":
    from pippa_cli.cli.app import app
    from pippa_cli.cli.context import Runtime

    app(prog_name="pippa", obj=Runtime(modal_sdk=TimedModal()))  # type: ignore[arg-type]
