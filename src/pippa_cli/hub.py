"""Checking a `--model owner/name[@revision]` against Hugging Face from the user's machine.

A mistyped repo id or revision would otherwise be found on a GPU. Two short requests
(the model's info at that revision, then its model_index.json) say whether it exists and is
an LTX-Video or LTX-2 diffusers pipeline of the family its name says. When the Hub cannot
be reached the check is skipped with a warning: an outage must not stop a render of a
model that is already cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from pippa_cli.errors import UsageError
from pippa_cli.presets import FAMILY_NAMES, LTX_PIPELINES, is_ltx_pipeline, pipeline_family
from pippa_cli.redaction import register

if TYPE_CHECKING:
    import httpx

    from pippa_cli.presets import ModelSource

HUB_TIMEOUT_S = 5.0
DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    """huggingface_hub's own variable, so a mirror the user set up is used here too."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_token() -> str | None:
    """HF_TOKEN, else the token `hf auth login` saved (where huggingface_hub looks)."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("HF_TOKEN_PATH") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"),
        "token",
    )
    try:
        with open(path, encoding="utf-8") as handle:
            saved = handle.read().strip() or None
    except (OSError, ValueError):
        return None
    register(saved)  # not in the environment, so redaction must be told
    return saved


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_model(
    source: ModelSource,
    report: Callable[[str], None] | None = None,
    *,
    timeout: float = HUB_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> str | None:
    """Raise UsageError if the Hub says the model or revision does not exist or is not an
    LTX pipeline of the family its name says; return a warning if it could not be asked;
    None when all is well.

    Presets and local directories are not checked (pippa's own pins, or checked already).
    `report("checking")` is called when the Hub is asked.
    """
    if source.is_local_dir or source.label == source.defaults.name or _offline():
        return None
    import httpx

    if report:
        report("checking")

    revision = source.revision or "main"
    headers = {"user-agent": "pippa"}
    token = hub_token()
    if token:  # private and gated repos; the token is sent, never printed
        headers["authorization"] = f"Bearer {token}"
    base = hub_endpoint()
    repo = source.location
    try:
        with httpx.Client(
            timeout=timeout, headers=headers, transport=transport, follow_redirects=True
        ) as client:
            info = client.get(f"{base}/api/models/{repo}/revision/{quote(revision, safe='')}")
            problem = _not_found(info, repo, source.revision)
            if problem is not None:
                raise problem
            if info.status_code != 200:
                return (
                    f"Hugging Face answered {info.status_code}: --model {source.label} not checked"
                )
            commit = str(info.json().get("sha") or revision)
            siblings = info.json().get("siblings")
            files = {
                s["rfilename"]
                for s in (siblings if isinstance(siblings, list) else [])
                if isinstance(s, dict) and isinstance(s.get("rfilename"), str)
            }
            if files and "model_index.json" not in files:
                raise _not_pipeline(source.label, "it has no model_index.json")
            index = client.get(f"{base}/{repo}/resolve/{quote(commit, safe='')}/model_index.json")
            if index.headers.get("x-error-code") == "GatedRepo":
                raise _not_found(index, repo, source.revision) or _not_pipeline(repo, "gated")
            if index.status_code == 200:
                try:
                    parsed = index.json()
                except ValueError:
                    parsed = None
                found = parsed.get("_class_name") if isinstance(parsed, dict) else None
                if not is_ltx_pipeline(parsed):
                    raise _not_pipeline(source.label, f"its pipeline is {found or 'unreadable'}")
                family = pipeline_family(parsed)
                if family != source.defaults.family:
                    raise _wrong_family(source, str(found), FAMILY_NAMES[str(family)])
    except httpx.TimeoutException:
        why = f"did not answer within {timeout:g} s"
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        why = f"could not be asked ({type(exc).__name__})"
    else:
        return None
    return f"Hugging Face {why}: --model {source.label} not checked"


def _not_found(response: httpx.Response, repo: str, revision: str | None) -> UsageError | None:
    code = response.headers.get("x-error-code", "")
    if code == "RevisionNotFound":
        return UsageError(
            f"revision {revision} of {repo} not found on Hugging Face",
            f"Check the revision (a branch, tag or commit of https://huggingface.co/{repo}).",
        )
    if code == "RepoNotFound" or (response.status_code == 404 and code != "EntryNotFound"):
        return UsageError(
            f"model {repo} not found on Hugging Face",
            "Check the spelling (owner/name, e.g. Lightricks/LTX-Video); private repos need "
            "HF_TOKEN.",
        )
    if code == "GatedRepo":
        return UsageError(
            f"{repo} is gated on Hugging Face: its terms must be accepted first",
            f"Accept them at https://huggingface.co/{repo}, or use a preset.",
        )
    return None


def _not_pipeline(label: str, why: str) -> UsageError:
    return UsageError(
        f"--model {label} is not an LTX-Video or LTX-2 diffusers pipeline: {why}",
        f"pippa renders {', '.join(LTX_PIPELINES)} checkpoints in diffusers format.",
    )


def check_access(
    source: ModelSource,
    *,
    timeout: float = HUB_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> str | None:
    """Before weights are downloaded (on Modal, where a refusal would be found minutes
    later): raise UsageError when the Hub refuses this user the model's files (a gated
    repository whose license the account behind the token has not accepted, or no token);
    a warning when the Hub could not be asked; None when the files can be fetched."""
    if source.is_local_dir or _offline():
        return None
    import httpx

    from pippa_cli.remote_errors import gated_error

    headers = {"user-agent": "pippa"}
    token = hub_token()
    if token:
        headers["authorization"] = f"Bearer {token}"
    revision = quote(source.revision or "main", safe="")
    url = f"{hub_endpoint()}/{source.location}/resolve/{revision}/model_index.json"
    try:
        with httpx.Client(timeout=timeout, headers=headers, transport=transport) as client:
            answer = client.head(url)
    except httpx.HTTPError as exc:
        return f"Hugging Face could not be asked ({type(exc).__name__}): access not checked"
    if answer.headers.get("x-error-code") == "GatedRepo":
        raise UsageError(*gated_error(source.location, "to you"))
    return None


def _wrong_family(source: ModelSource, found: str, family: str) -> UsageError:
    """A repo whose name says one family and whose pipeline is the other: rendered with
    the other family's settings it would fail on the GPU, or render nonsense."""
    said = source.defaults.family_name
    return UsageError(
        f"--model {source.label} is an {family} pipeline ({found}), but its name says {said}",
        "pippa takes a repo named LTX-2 or ltx2 for LTX-2 and any other for LTX-Video: "
        "use a repo (or a local copy) whose name says what it is.",
    )
