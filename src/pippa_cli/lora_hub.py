"""Checking a `--lora owner/name[@revision][:file]` against Hugging Face before anything runs.

One request (the repo's info at that revision, hub.py's endpoint and token) says whether
the repo, the revision and the file exist, and pins both: the exact commit, and the file
when none was named (diffusers' own `pytorch_lora_weights.safetensors`, else the repo's
only .safetensors file), so the render loads, and the record names, exactly what was
checked. When the Hub cannot be asked the check is skipped with a warning, as for --model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from pippa_cli.errors import UsageError
from pippa_cli.hub import HUB_TIMEOUT_S, _not_found, _offline, hub_endpoint, hub_token

if TYPE_CHECKING:
    import httpx

# The name diffusers' save_lora_weights gives a LoRA, and looks for first.
DIFFUSERS_NAME = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class HubLora:
    """What the Hub said about a LoRA repo: the commit and file to load, or why not asked."""

    commit: str | None  # None: not checked (offline, or the Hub did not answer)
    weight_name: str | None  # as given, or the one the repo has
    warning: str | None = None


def check_lora(
    repo: str,
    revision: str | None,
    weight_name: str | None,
    *,
    timeout: float = HUB_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> HubLora:
    """The repo's commit and LoRA file; UsageError if the repo, the revision or the file
    does not exist, or no single LoRA file can be chosen."""
    label = f"{repo}@{revision}" if revision else repo
    if _offline():
        return HubLora(None, weight_name)
    import httpx

    headers = {"user-agent": "pippa"}
    token = hub_token()
    if token:  # private and gated repos; the token is sent, never printed
        headers["authorization"] = f"Bearer {token}"
    url = f"{hub_endpoint()}/api/models/{repo}/revision/{quote(revision or 'main', safe='')}"
    try:
        with httpx.Client(
            timeout=timeout, headers=headers, transport=transport, follow_redirects=True
        ) as client:
            info = client.get(url)
        problem = _not_found(info, repo, revision)
        if problem is not None:  # worded for --model: say which flag
            raise UsageError(f"--lora {label}: {problem.message}", problem.hint)
        if info.status_code != 200:
            why = f"answered {info.status_code}"
        else:
            body = info.json()
            commit = str(body.get("sha") or revision or "main")
            return HubLora(commit, _weight_name(label, weight_name, _files(body)))
    except httpx.TimeoutException:
        why = f"did not answer within {timeout:g} s"
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        why = f"could not be asked ({type(exc).__name__})"
    return HubLora(None, weight_name, f"Hugging Face {why}: --lora {label} not checked")


def _files(body: object) -> set[str]:
    siblings = body.get("siblings") if isinstance(body, dict) else None
    return {
        s["rfilename"]
        for s in (siblings if isinstance(siblings, list) else [])
        if isinstance(s, dict) and isinstance(s.get("rfilename"), str)
    }


def _weight_name(label: str, given: str | None, files: set[str]) -> str | None:
    if not files:  # a Hub that lists no files: diffusers decides in the render
        return given
    if given is not None:
        if given not in files:
            raise UsageError(
                f"--lora {label}:{given}: the repo has no file {given}",
                f"Check the name against https://huggingface.co/{label.partition('@')[0]}.",
            )
        return given
    if DIFFUSERS_NAME in files:
        return DIFFUSERS_NAME
    candidates = sorted(f for f in files if f.lower().endswith(".safetensors"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(
            f"--lora {label}: the repo has no .safetensors file",
            "pippa loads LoRAs in safetensors format only.",
        )
    shown = ", ".join(candidates[:5]) + (", ..." if len(candidates) > 5 else "")
    raise UsageError(
        f"--lora {label}: the repo has several .safetensors files ({shown})",
        f"Name one: --lora {label}:{candidates[0]}",
    )
