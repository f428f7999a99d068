"""A stand-in for Modal's call objects: a TEST DOUBLE for what cannot run offline.

A live Modal call needs Modal's servers, a token and a GPU; none exist in the tests. pippa
reaches the Modal SDK only through `pippa_cli.backends.modal_client.ModalSDK` (its methods
`cls`, `lookup`, `function`, `function_call`, `progress_dict`, `deployments_dict`,
`has_credentials`), and takes the one to use as an argument, so a test hands in a
`ModalStandIn` instead: `ModalBackend(..., sdk=standin)`, or to the CLI
`runner.invoke(app, args, obj=Runtime(modal_sdk=standin))`. The `modal_standin` fixture makes
one and registers it for the test; `cli_obj()` is the `obj=` that hands it to the CLI (and
the real SDK when no stand-in is registered). Nothing of pippa's is patched: everything
above the SDK (ModalBackend, doctor, deploy, the history, the CLI) is pippa's real code.
By default the app is deployed by this pippa with default settings, and every model's
weights are cached; `deployment`, `deployed`, `lookup_error`, `weights_cached` and
`download_outcome` change that.

Each spawned call plays a scripted timeline, one step per `get`:

    get #0               pending: the container is starting, nothing published ("queued")
    get #1 .. #steps     pending: publishes {"stage": "denoising", "step": i, "total": steps}
    get #steps+1 ...     the outcome: the MP4's bytes, or a scripted exception

"Pending" is the built-in TimeoutError, which `modal.FunctionCall.get(timeout=...)` raises
while the call runs; errors are the real classes from `modal.exception` (or any exception,
as user code on Modal may raise). No get sleeps its timeout: a step takes about 2 ms.
Every spawn, lookup, get and cancel is recorded for the tests to assert on.

It is a plugin: test modules that use it say `pytest_plugins = ["tests.modal_standin"]`.
They import its classes first, so pytest cannot rewrite its asserts (it has none):
PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pippa_cli.cli.context import Runtime

STEP_SLEEP_S = 0.002
# The commit the stand-in's weights cache holds for a model asked for by branch.
WEIGHTS_COMMIT = "0" * 40


@dataclass
class Script:
    """How one call behaves, get by get."""

    steps: int = 3  # pending gets that publish denoising progress, after one "queued" get
    outcome: bytes | BaseException | None = None  # None: the stand-in's MP4
    interrupt_at: int | None = None  # this get (0-based) raises KeyboardInterrupt, once
    pending_forever: bool = False

    def pending(self, index: int) -> bool:
        return self.pending_forever or index <= self.steps


@dataclass
class Spawn:
    """One `Cls(model=...).generate.spawn(request)`."""

    app_name: str
    class_name: str
    model: str | None
    request: dict[str, Any]
    call_id: str


class FakeDict:
    """`modal.Dict`: only what pippa reads (`get`), plus `put` for the fake calls."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.reads: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.append(key)
        return self.data.get(key, default)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value


class FakeFunctionCall:
    """`modal.FunctionCall`: object_id, get(timeout) and cancel()."""

    def __init__(self, standin: ModalStandIn, call_id: str, script: Script) -> None:
        self.standin = standin
        self.object_id = call_id
        self.script = script
        self.gets: list[float | None] = []  # the timeout of each get
        self.cancelled = False

    def get(self, timeout: float | None = None) -> bytes:
        index = len(self.gets)
        self.gets.append(timeout)
        for hook in self.standin.on_get:
            hook(self, index)
        script = self.script
        if script.interrupt_at == index:
            raise KeyboardInterrupt
        if script.pending(index):
            if index >= 1:
                step = min(index, script.steps) if script.steps else 0
                self.standin.progress.put(
                    self.object_id, {"stage": "denoising", "step": step, "total": script.steps}
                )
            time.sleep(STEP_SLEEP_S)  # a sliver of real time, never the timeout itself
            raise TimeoutError
        outcome = script.outcome if script.outcome is not None else self.standin.mp4
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def cancel(self) -> None:
        self.cancelled = True
        self.standin.cancelled.append(self.object_id)


class _FakeMethod:
    def __init__(self, standin: ModalStandIn, app_name: str, class_name: str, model: Any):
        self.standin = standin
        self.app_name = app_name
        self.class_name = class_name
        self.model = model

    def spawn(self, request: dict[str, Any]) -> FakeFunctionCall:
        if self.standin.spawn_error is not None:
            raise self.standin.spawn_error
        call_id = "fc-" + uuid.uuid4().hex[:24].upper()
        script = self.standin.script
        call = FakeFunctionCall(self.standin, call_id, script)
        self.standin.calls[call_id] = call
        self.standin.spawns.append(
            Spawn(self.app_name, self.class_name, self.model, request, call_id)
        )
        return call


class _FakeInstance:
    def __init__(self, method: _FakeMethod) -> None:
        self.generate = method


class FakeCls:
    """`modal.Cls.from_name(app, name)`: lazy, like the real one; errors come at spawn."""

    def __init__(self, standin: ModalStandIn, app_name: str, class_name: str) -> None:
        self.standin = standin
        self.app_name = app_name
        self.class_name = class_name

    def __call__(self, model: Any = None) -> _FakeInstance:
        return _FakeInstance(_FakeMethod(self.standin, self.app_name, self.class_name, model))


class FakeDeployments(FakeDict):
    """The deployments Dict: every app is deployed by this pippa unless a test says not."""

    def __init__(self, standin: ModalStandIn) -> None:
        super().__init__()
        self.standin = standin

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.append(key)
        if key in self.data:
            return self.data[key]
        if key.startswith("app:"):
            return self.standin.deployment
        if key.startswith("weights:") and self.standin.weights_cached:
            # A download of a commit holds that commit; of a branch, the stand-in's.
            revision = key.rpartition("@")[2]
            commit = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else WEIGHTS_COMMIT
            return {"commit": commit}
        return default


class FakeFunction:
    """`modal.Function.from_name(app, "download_weights")`: `.remote(model=...)`."""

    def __init__(self, standin: ModalStandIn, app_name: str, name: str) -> None:
        self.standin = standin
        self.app_name = app_name
        self.name = name

    def remote(self, **kwargs: Any) -> Any:
        self.standin.remote_calls.append((self.app_name, self.name, kwargs))
        outcome = self.standin.download_outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class ModalStandIn:
    """Replaces `ModalSDK`. Set `credentials`, `script` (for the next spawns), `spawn_error`."""

    def __init__(self, mp4: bytes) -> None:
        from pippa_cli.deployment import DeployConfig

        self.mp4 = mp4
        self.deployment: dict[str, Any] | None = DeployConfig().record()
        self.deployed = True  # False: lookups raise NotFoundError
        self.lookup_error: BaseException | None = None  # what every app lookup raises
        self.weights_cached = True
        self.download_outcome: Any = {"location": "x", "revision": "main", "commit": WEIGHTS_COMMIT}
        self.remote_calls: list[tuple[str, str, dict[str, Any]]] = []
        self.deployments = FakeDeployments(self)
        self.credentials = True
        self.script = Script()
        self.spawn_error: BaseException | None = None
        self.on_get: list[Callable[[FakeFunctionCall, int], None]] = []
        self.progress = FakeDict()
        self.calls: dict[str, FakeFunctionCall] = {}
        self.spawns: list[Spawn] = []
        self.cancelled: list[str] = []
        self.cls_lookups: list[tuple[str, str]] = []
        self.app_lookups: list[tuple[str, str]] = []
        self.call_lookups: list[str] = []
        self.credential_checks = 0

    # the ModalSDK interface ---------------------------------------------------------
    def cls(self, app_name: str, class_name: str) -> FakeCls:
        self.cls_lookups.append((app_name, class_name))
        return FakeCls(self, app_name, class_name)

    def lookup(self, app_name: str, class_name: str) -> None:
        self.app_lookups.append((app_name, class_name))
        if self.lookup_error is not None:
            raise self.lookup_error
        if not self.deployed:
            import modal.exception

            raise modal.exception.NotFoundError(f"Lookup failed for Cls '{class_name}'")

    def function(self, app_name: str, name: str) -> FakeFunction:
        return FakeFunction(self, app_name, name)

    def deployments_dict(self) -> FakeDeployments:
        return self.deployments

    def function_call(self, call_id: str) -> FakeFunctionCall:
        """Lazy like `FunctionCall.from_id`: an unknown id fails at get, with NotFoundError."""
        self.call_lookups.append(call_id)
        if call_id not in self.calls:
            import modal.exception

            unknown = Script(steps=0, outcome=modal.exception.NotFoundError(f"no call {call_id}"))
            return FakeFunctionCall(self, call_id, unknown)
        return self.calls[call_id]

    def progress_dict(self) -> FakeDict:
        return self.progress

    def has_credentials(self) -> bool:
        self.credential_checks += 1
        return self.credentials

    # for tests ----------------------------------------------------------------------
    def add_call(self, call_id: str, script: Script) -> FakeFunctionCall:
        """A call Modal knows about without it being spawned here (another process)."""
        call = FakeFunctionCall(self, call_id, script)
        self.calls[call_id] = call
        return call

    @property
    def gets(self) -> int:
        return sum(len(c.gets) for c in self.calls.values())

    def record(self) -> dict[str, Any]:
        """What happened, as plain data (for a child process to hand back)."""
        return {
            "spawns": [s.call_id for s in self.spawns],
            "gets": self.gets,
            "cancelled": list(self.cancelled),
        }


# `pippa` in a child process with Modal replaced by a stand-in whose calls never finish:
# for tests where process lifetime matters (signals, parallel processes). What the
# stand-in saw is written to $STANDIN_RECORD as JSON when the child ends.
_CHILD = """
import json, os, sys
from pippa_cli.cli.app import app
from pippa_cli.cli.context import Runtime
from tests.modal_standin import ModalStandIn, Script

standin = ModalStandIn(b"")
standin.script = Script(pending_forever=True)
try:
    app(sys.argv[1:], prog_name="pippa", obj=Runtime(modal_sdk=standin))
finally:
    if os.environ.get("STANDIN_RECORD"):
        with open(os.environ["STANDIN_RECORD"], "w") as f:
            json.dump(standin.record(), f)
"""


def pippa_process(*args: str, record: Path | None = None) -> subprocess.Popen[str]:
    """Start `pippa ARGS` in a child process that talks to a never-finishing stand-in."""
    repo = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
        "STANDIN_RECORD": str(record or ""),
    }
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def make_mp4() -> bytes:
    """A small valid H.264 MP4 (9 frames of noise, 64x64), encoded by pippa's own encoder."""
    import numpy as np

    from pippa_cli.mp4 import encode_mp4

    frames = np.random.default_rng(0).integers(0, 256, size=(9, 64, 64, 3), dtype=np.uint8)
    return encode_mp4(frames, 8, {"title": "modal stand-in"})


@pytest.fixture(scope="session")
def standin_mp4() -> bytes:
    return make_mp4()


# The stand-in of the test that is running (the `modal_standin` fixture's), for cli_obj().
_current: ModalStandIn | None = None


def cli_obj() -> Runtime:
    """The `obj=` for `CliRunner().invoke(app, args, obj=cli_obj())`: the running test's
    stand-in, or the real Modal SDK in a test without one."""
    return Runtime(modal_sdk=_current)


@pytest.fixture
def modal_standin(standin_mp4: bytes) -> Iterator[ModalStandIn]:
    """A fresh stand-in, handed to the CLI by `cli_obj()` for this test."""
    global _current
    standin = ModalStandIn(standin_mp4)
    _current = standin
    try:
        yield standin
    finally:
        _current = None
