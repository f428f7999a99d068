"""The one form in which a failure inside the Modal container reaches the client.

Modal pickles an exception raised remotely and re-raises it on the client as the same
class. That misleads twice: a builtin `OSError` or `TimeoutError` from the render looks
exactly like a local network error or a pending call, and a class the client cannot import
(torch's out-of-memory error, huggingface_hub's errors) arrives as "Could not deserialize
remote exception". So the container turns every exception into a `RemoteFailure`: a
pippa-owned class that any pippa client can unpickle, with no torch or huggingface_hub
needed, carrying the original's kind, message, remote traceback and what went wrong
(`category`). Nothing raised by the render can fall into another bucket on the client.
"""

from __future__ import annotations

import traceback as traceback_module
from collections.abc import Iterator
from contextlib import contextmanager

from pippa_cli.errors import BackendError

# What went wrong, as the client explains it (see `explain`).
LOAD = "load"  # the model could not be loaded
WEIGHTS_MISSING = "weights_missing"  # the model is not in the app's weights cache
GATED = "gated"  # Hugging Face refused a gated repository's files to this token (or none)
REQUEST = "request"  # the app cannot render this request (e.g. a newer client's)
UNFIT = "unfit"  # what the request brings (a LoRA) does not fit the model
NO_CUDA = "no_cuda"  # a GPU container without a usable CUDA device
OUT_OF_MEMORY = "out_of_memory"
RENDER = "render"  # anything else while rendering

_MAX_MESSAGE = 2000
_MAX_TRACEBACK = 20000


class RemoteFailure(Exception):
    """A failure inside the Modal container, in a form every pippa client can unpickle."""

    def __init__(
        self, kind: str, message: str, category: str = RENDER, traceback: str = ""
    ) -> None:
        super().__init__(kind, message, category, traceback)
        self.kind = kind
        self.message = message
        self.category = category
        self.traceback = traceback

    def __reduce__(self) -> tuple[type[RemoteFailure], tuple[str, str, str, str]]:
        # Plain strings only: unpickling never needs anything but this class.
        return (RemoteFailure, (self.kind, self.message, self.category, self.traceback))

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" if self.message else self.kind


def from_exception(exc: BaseException, category: str = RENDER) -> RemoteFailure:
    """`exc` as a RemoteFailure; out-of-memory errors are recognised whatever the stage."""
    if isinstance(exc, RemoteFailure):
        return exc
    kind = type(exc).__name__
    message = " ".join(str(exc).split())[:_MAX_MESSAGE]
    text = "".join(traceback_module.format_exception(type(exc), exc, exc.__traceback__))
    return RemoteFailure(kind, message, categorize(kind, message, category), text[-_MAX_TRACEBACK:])


def categorize(kind: str, message: str, category: str = RENDER) -> str:
    """`category`, unless the failure is running out of (GPU) memory, whatever the stage."""
    if kind == "OutOfMemoryError" or "out of memory" in message.lower():
        return OUT_OF_MEMORY
    # huggingface_hub's GatedRepoError, also when diffusers re-raises it as an OSError.
    if kind == "GatedRepoError" or "gated repo" in message.lower():
        return GATED
    return category


@contextmanager
def reported_as(category: str) -> Iterator[None]:
    """Any exception leaving the block leaves as a RemoteFailure of `category`.

    BaseExceptions that are not Exceptions (Modal's InputCancellation, KeyboardInterrupt,
    SystemExit) pass unchanged: they are how Modal stops a call, not failures of it.
    """
    try:
        yield
    except Exception as exc:
        raise from_exception(exc, category) from None


def as_error(
    failure: RemoteFailure, model: str | None = None, where: str = "on Modal"
) -> BackendError:
    """The error a user reads for a failure in the container (`where` it happened);
    its remote traceback goes along for --debug."""
    message, hint = _explain(failure, model, where)
    error = BackendError(message, hint)
    error.details = failure.traceback or None
    return error


def gated_error(model: str, where: str) -> tuple[str, str]:
    """(message, hint) for a gated repository's files refused to this user (or to none)."""
    repo = model.partition("+")[0].partition("@")[0]
    page = f"https://huggingface.co/{repo}" if "/" in repo else "its Hugging Face page"
    return (
        f"Hugging Face refused {repo}'s files {where}: the repository is gated",
        f"Accept its license at {page} with your account, then set HF_TOKEN (or run "
        "`hf auth login`) and retry: pippa passes the token to the download only.",
    )


def _explain(failure: RemoteFailure, model: str | None, where: str) -> tuple[str, str]:
    """(message, hint) for a user, by what went wrong."""
    what = f"{failure.kind}: {failure.message}" if failure.message else failure.kind
    label = model or "the model"
    if failure.category == OUT_OF_MEMORY:
        return (
            f"the render ran out of GPU memory {where}: {what}",
            "Render a smaller size or a shorter clip, or deploy a larger GPU "
            "(pippa deploy --gpu H100).",
        )
    if failure.category == WEIGHTS_MISSING:
        return (
            f"{label} is not in the Modal app's weights cache ({failure.message})",
            f"Fetch it once: pippa deploy --download {label}",
        )
    if failure.category == GATED:
        return gated_error(label, where)
    if failure.category == LOAD:
        return (
            f"could not load {label} {where}: {what}",
            "Check --model (a preset, owner/name[@revision] on Hugging Face); "
            "`pippa deploy` updates the app.",
        )
    if failure.category == REQUEST:
        return (
            f"the deployed Modal app cannot render this request: {failure.message}",
            "Update it to this pippa: pippa deploy",
        )
    if failure.category == UNFIT:
        return (
            f"the request does not fit {label}: {failure.message}",
            "Nothing was rendered. Use a LoRA trained for this model (its family and size), "
            "or another --model.",
        )
    if failure.category == NO_CUDA:
        return (
            f"the Modal GPU container has no usable CUDA device: {failure.message}",
            "Nothing was rendered on the CPU. Retry; if it persists, redeploy with another "
            "GPU type: pippa deploy --gpu A100-80GB.",
        )
    return (
        f"the render failed {where}: {what}",
        "Run with --debug to see the remote traceback.",
    )
