"""A remote failure reaches the user as what it is, through modal's real result handling.

Each failure is pickled by modal's own container code and re-raised by modal's own client
code (`_process_result`, what `FunctionCall.get` runs): tests/modal_results.py. Only the
hand-over between the two (Modal's servers) is the stand-in's call object.
"""

from __future__ import annotations

import sys
from pathlib import Path

import modal.exception
import pytest
from modal_proto import api_pb2

from pippa_cli.backends.modal_backend import ModalBackend, ModalUnavailable
from pippa_cli.remote_errors import OUT_OF_MEMORY, RemoteFailure, from_exception
from tests.helpers import SMALL, history, invoke
from tests.modal_results import remote_raise, server_status
from tests.modal_standin import ModalStandIn, Script


def backend(standin: ModalStandIn) -> ModalBackend:
    return ModalBackend("pippa", "LTX", sdk=standin)


def state_after(standin: ModalStandIn, outcome: BaseException):
    """What ModalBackend makes of a call whose get raised `outcome` (after one pending get)."""
    standin.add_call("fc-1", Script(steps=0, outcome=outcome))
    modal = backend(standin)
    assert modal.state("fc-1").status == "running"  # get #0: pending, like a real queue
    return modal.state("fc-1")


def unimportable_exception(tmp_path: Path, module: str, source: str, name: str, message: str):
    """An exception whose class exists where it was raised but not on the client: its module
    is importable while modal pickles it, and gone when modal unpickles it."""
    (tmp_path / f"{module}.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        imported = __import__(module)
        raised = remote_raise_pickled(getattr(imported, name)(message))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module, None)
    return raised


def remote_raise_pickled(exc: BaseException):
    """Pickle in the 'container' now; unpickle later, once the class is gone."""
    from tests.modal_results import client_get, container_result

    try:
        raise exc
    except BaseException as raised:
        item = container_result(raised)

    def receive() -> BaseException:
        try:
            client_get(item)
        except BaseException as received:
            return received
        raise AssertionError("no exception")

    return receive


# --- what modal hands the client -------------------------------------------------------------


def test_a_remote_builtin_oserror_is_the_render_failing_not_modal_unreachable(
    modal_standin: ModalStandIn,
):
    received = remote_raise(OSError("Lightricks/LTX-Vide is not a valid model identifier"))
    assert type(received) is OSError  # modal gives the client the very builtin

    state = state_after(modal_standin, received)

    assert state.status == "failed"
    assert not isinstance(state.error, ModalUnavailable)
    assert state.error.message == (
        "the render failed on Modal: OSError: Lightricks/LTX-Vide is not a valid model identifier"
    )


def test_a_remote_builtin_timeout_is_a_failure_not_pending(modal_standin: ModalStandIn):
    received = remote_raise(TimeoutError("the VAE decode timed out"))
    assert type(received) is TimeoutError

    state = state_after(modal_standin, received)

    assert state.status == "failed"
    assert "TimeoutError: the VAE decode timed out" in state.error.message


def test_a_pending_call_is_still_running(modal_standin: ModalStandIn):
    modal_standin.add_call("fc-1", Script(steps=3))

    assert backend(modal_standin).state("fc-1").status == "running"


def test_a_class_the_client_cannot_import(modal_standin: ModalStandIn, tmp_path: Path):
    receive = unimportable_exception(
        tmp_path,
        "remote_only_mod",
        "class RemoteOnlyError(Exception):\n    pass\n",
        "RemoteOnlyError",
        "boom from the container",
    )
    received = receive()
    assert isinstance(received, modal.exception.ExecutionError)
    assert "Could not deserialize remote exception" in str(received)

    state = state_after(modal_standin, received)

    assert state.status == "failed"
    assert state.error.message == (
        "the render failed on Modal: RemoteOnlyError: boom from the container"
    )
    assert "Could not deserialize" in (state.error.details or "")  # for --debug


def test_cuda_out_of_memory_from_a_torch_the_client_lacks(
    modal_standin: ModalStandIn, tmp_path: Path
):
    receive = unimportable_exception(
        tmp_path,
        "torch_like",
        "class OutOfMemoryError(RuntimeError):\n    pass\n",
        "OutOfMemoryError",
        "CUDA out of memory. Tried to allocate 2.00 GiB",
    )

    state = state_after(modal_standin, receive())

    assert state.status == "failed"
    assert state.error.message.startswith("the render ran out of GPU memory on Modal: ")
    assert "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" in state.error.message
    assert "--gpu" in (state.error.hint or "")


def test_input_cancellation(modal_standin: ModalStandIn):
    received = remote_raise(modal.exception.InputCancellation("cancelled"))

    state = state_after(modal_standin, received)

    assert state.status == "failed"
    assert "cancelled on Modal" in state.error.message


def test_a_terminated_call(modal_standin: ModalStandIn):
    received = server_status(api_pb2.GenericResult.GENERIC_STATUS_TERMINATED)
    assert isinstance(received, modal.exception.RemoteError)

    state = state_after(modal_standin, received)

    assert state.status == "failed"
    assert "cancelled on Modal" in state.error.message


def test_a_call_past_the_app_timeout(modal_standin: ModalStandIn):
    received = server_status(api_pb2.GenericResult.GENERIC_STATUS_TIMEOUT, "ran 1800 s")

    state = state_after(modal_standin, received)

    assert state.status == "failed"
    assert "ran past the Modal app's timeout" in state.error.message


def test_pippas_own_form_crosses_intact(modal_standin: ModalStandIn):
    try:
        raise RuntimeError("CUDA out of memory. Tried to allocate 9.00 GiB")
    except RuntimeError as exc:
        failure = from_exception(exc)
    received = remote_raise(failure)
    assert type(received) is RemoteFailure
    assert (received.kind, received.category) == ("RuntimeError", OUT_OF_MEMORY)
    assert "Tried to allocate 9.00 GiB" in received.message
    assert "Traceback" in received.traceback

    state = state_after(modal_standin, received)

    assert state.error.message == (
        "the render ran out of GPU memory on Modal: RuntimeError: CUDA out of memory. "
        "Tried to allocate 9.00 GiB"
    )
    assert "Traceback" in (state.error.details or "")


@pytest.mark.parametrize(
    "error",
    [
        modal.exception.ConnectionError("Could not connect to the Modal server."),
        pytest.param("grpclib", id="grpclib-stream-terminated"),
    ],
)
def test_only_modal_transport_errors_mean_unreachable(modal_standin: ModalStandIn, error):
    if error == "grpclib":
        from grpclib.exceptions import StreamTerminatedError

        error = StreamTerminatedError("Connection lost")
    modal_standin.add_call("fc-1", Script(steps=0, outcome=error))
    modal = backend(modal_standin)
    modal.state("fc-1")

    with pytest.raises(ModalUnavailable):
        modal.state("fc-1")


# --- what the user sees ----------------------------------------------------------------------


def test_status_wait_on_a_remote_oserror_fails_the_job_once(modal_standin: ModalStandIn):
    received = remote_raise(OSError("No space left on device"))
    modal_standin.script = Script(steps=2, outcome=received)
    detached = invoke("generate", "a storm", "--no-enhance", "--detach", *SMALL)
    task_id = detached.stdout.strip()

    result = invoke("status", task_id, "--wait")

    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: the render failed on Modal: OSError: No space left on device"
    ]
    assert "the render failed on Modal: OSError: No space left on device" in result.stderr
    assert "could not reach Modal" not in result.stderr
    job = history().get(task_id)
    assert job.status == "failed"
    assert "OSError: No space left on device" in job.error


def test_debug_shows_the_remote_traceback(modal_standin: ModalStandIn):
    def deep_in_the_container() -> None:
        raise ValueError("the transformer rejected the latents")

    try:
        deep_in_the_container()
    except ValueError as exc:
        failure = from_exception(exc)
    modal_standin.script = Script(steps=1, outcome=remote_raise(failure))

    plain = invoke("generate", "a storm", "--no-enhance", "-o", "a.mp4", *SMALL)
    debug = invoke("generate", "a storm", "--no-enhance", "-o", "b.mp4", "--debug", *SMALL)

    for result in (plain, debug):
        assert result.exit_code == 1
        assert "ValueError: the transformer rejected the latents" in result.stderr
    assert "deep_in_the_container" not in plain.stderr
    assert "Remote traceback (on Modal)" in debug.stderr
    assert "deep_in_the_container" in debug.stderr


# --- trouble asking is not the call failing ------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        pytest.param("service", id="grpc-unavailable-after-retries"),
        pytest.param(OSError(101, "Network is unreachable"), id="result-download-dropped"),
        pytest.param(TimeoutError("read timed out"), id="client-side-timeout"),
    ],
)
def test_trouble_asking_keeps_a_paid_job_running(modal_standin: ModalStandIn, error):
    if error == "service":
        error = modal.exception.ServiceError("UNAVAILABLE")
    modal_standin.script = Script(steps=1, outcome=error)

    result = invoke("generate", "a storm", "--no-enhance", "-o", "a.mp4", *SMALL)

    assert result.exit_code == 1
    assert "keeps running on Modal" in result.stderr
    assert "pippa status" in result.stderr
    [job] = history().list()
    assert job.status == "running"
    assert job.remote_call_id
    assert modal_standin.cancelled == []


def test_a_slow_download_of_a_finished_clip_is_not_cut_short(
    modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch, standin_mp4: bytes
):
    """The connect bound covers reaching Modal, not fetching a large result."""
    import time

    import pippa_cli.backends.modal_backend as modal_backend

    monkeypatch.setattr(modal_backend, "CONNECT_TIMEOUT_S", 0.2)

    def slow_link(call, index: int) -> None:
        if index == 2:  # the result: its bytes take longer than the bound
            time.sleep(0.6)

    modal_standin.on_get.append(slow_link)
    modal_standin.script = Script(steps=1)

    result = invoke("generate", "a storm", "--no-enhance", "-o", "a.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    assert Path("a.mp4").read_bytes() == standin_mp4


def test_a_multi_line_message_the_client_cannot_rebuild(modal_standin: ModalStandIn, tmp_path):
    receive = unimportable_exception(
        tmp_path,
        "hub_like",
        "class RepositoryNotFoundError(OSError):\n    pass\n",
        "RepositoryNotFoundError",
        "401 Client Error.\nRepository Not Found for url: https://hf.co/api/models/x/y.\n"
        "Please make sure you are authenticated.",
    )

    state = state_after(modal_standin, receive())

    assert state.error.message.startswith(
        "the render failed on Modal: RepositoryNotFoundError: 401 Client Error. "
        "Repository Not Found for url"
    )
    assert state.error.message.endswith("Please make sure you are authenticated.")
