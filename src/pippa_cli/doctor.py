"""`pippa doctor`'s checks: is everything set up, and what to fix if not.

Each check returns ok / warning / error with a hint. Network checks use short timeouts
and say so when the network is unreachable. The Groq key is never shown.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pippa_cli.install_hint import local_extra_hint
from pippa_cli.version import __version__

if TYPE_CHECKING:
    from pippa_cli.backends.modal_client import ModalSDK
    from pippa_cli.settings import Settings

OK, WARNING, ERROR = "ok", "warning", "error"
NETWORK_TIMEOUT_S = 8.0


@dataclass
class Check:
    name: str
    status: str
    message: str
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(settings: Settings, *, modal_sdk: ModalSDK | None = None) -> list[Check]:
    """Every check, in the order shown; `modal_sdk`: what Modal's checks ask (the real SDK
    by default)."""
    from concurrent.futures import ThreadPoolExecutor

    # The two network checks run side by side: at most one timeout's wait, not two.
    with ThreadPoolExecutor(max_workers=2) as pool:
        groq = pool.submit(check_groq, settings)
        modal = pool.submit(check_modal, settings, modal_sdk)
        checks = [
            Check("pippa", OK, f"pippa {__version__} on Python {platform.python_version()}"),
            check_home(settings),
        ]
        checks.append(groq.result())
        checks.extend(modal.result())
    checks.append(check_local())
    checks.append(check_encoder())
    backends = check_backends(checks)
    if backends is not None:
        checks.append(backends)
    return checks


def check_backends(checks: list[Check]) -> Check | None:
    """An error when neither backend can render, whatever the configured one is."""
    found = {c.name: c for c in checks}
    token, app = found.get("modal token"), found.get("modal app")
    # Modal may work: token accepted and the app deployed, or it could not be asked.
    modal_may = (
        token is not None
        and token.status == OK
        and app is not None
        and (app.status == OK or "could not be reached" in app.message)
    )
    local, encoder = found.get("local gpu"), found.get("mp4 encoder")
    # Local rendering works on the CPU too (slowly): torch, diffusers and an H.264 PyAV.
    local_can = (
        local is not None
        and "not installed" not in local.message
        and encoder is not None
        and encoder.status == OK
    )
    if modal_may or local_can:
        return None
    return Check(
        "backends",
        ERROR,
        "no backend can render: Modal is not set up and local rendering is not installed",
        "Fix the Modal lines above (modal token new, pippa deploy), or render on this "
        f"machine. {local_extra_hint()}",
    )


def check_home(settings: Settings) -> Check:
    from pippa_cli.errors import PippaError
    from pippa_cli.history import History

    try:
        history = History.open_default(settings.home)
        history.list(limit=1)
    except PippaError as exc:
        return Check("history", ERROR, exc.message, exc.hint)
    problem = history.write_problem
    if problem is not None:  # jobs can be listed, not started
        return Check("history", ERROR, f"{problem.message} (it can only be read)", problem.hint)
    return Check("history", OK, f"job history at {history.path}")


def check_groq(settings: Settings) -> Check:
    key = settings.groq_key
    if key is None:
        return Check(
            "groq",
            WARNING,
            "GROQ_API_KEY is not set: prompts are used as written, without enhancement",
            "Get a key at https://console.groq.com/keys and export GROQ_API_KEY.",
        )
    if settings.groq_key_problem is not None:
        return Check(
            "groq",
            ERROR,
            f"GROQ_API_KEY is malformed ({settings.groq_key_problem})",
            "Copy the key again from https://console.groq.com/keys (gsk_ and letters).",
        )

    from pippa_cli.groq_client import list_models, trouble_kind

    error = _with_timeout(lambda: list_models(key, settings.groq_base_url, NETWORK_TIMEOUT_S))
    if error is None:
        return Check("groq", OK, "GROQ_API_KEY is set and accepted by Groq")
    kind = trouble_kind(error)
    if kind == "rejected":
        return Check(
            "groq",
            ERROR,
            "GROQ_API_KEY is set but Groq rejected it (401)",
            "Create a new key at https://console.groq.com/keys.",
        )
    if kind == "unreachable":
        return Check(
            "groq",
            WARNING,
            f"GROQ_API_KEY is set; Groq could not be reached within {NETWORK_TIMEOUT_S:g} s "
            "(network unreachable?)",
            "Check your connection; enhancement falls back to your prompt meanwhile.",
        )
    return Check("groq", WARNING, f"GROQ_API_KEY is set; Groq answered: {_short(error)}")


def check_modal(settings: Settings, sdk: ModalSDK | None = None) -> list[Check]:
    from pippa_cli.backends.modal_client import ModalSDK, lookup_failure

    sdk = sdk if sdk is not None else ModalSDK()
    severity = ERROR if settings.backend == "modal" else WARNING
    if not sdk.has_credentials():
        return [
            Check(
                "modal token",
                severity,
                "no Modal token found",
                "Run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET).",
            )
        ]
    token = Check("modal token", OK, "Modal token found")

    found: dict[str, object] = {}

    def lookup() -> None:
        from pippa_cli.deployment import app_key

        sdk.lookup(settings.modal_app, settings.modal_class)
        found["record"] = sdk.deployments_dict().get(app_key(settings.modal_app), None)

    error = _with_timeout(lookup)
    if error is None:
        return [token, _deployed(settings.modal_app, found.get("record"))]
    failure = lookup_failure(error)
    if failure == "not deployed":
        app = Check(
            "modal app",
            severity,
            f"app {settings.modal_app!r} is not deployed",
            "Run `pippa deploy`.",
        )
    elif failure == "rejected":
        token = Check("modal token", ERROR, "Modal rejected the token", "Run `modal token new`.")
        app = Check("modal app", WARNING, "not checked: the token was rejected")
    elif failure == "unreachable":
        app = Check(
            "modal app",
            WARNING,
            f"Modal could not be reached within {NETWORK_TIMEOUT_S:g} s (network unreachable?)",
            "Check your connection and retry.",
        )
    else:
        app = Check("modal app", WARNING, f"could not check the app: {_short(error)}")
    return [token, app]


def _deployed(app_name: str, record: object) -> Check:
    """The deployed app, as its deployment record describes it."""
    from pippa_cli.deployment import Deployment, deployed_levers

    deployment = Deployment.from_record(record)
    if deployment is None:
        return Check(
            "modal app",
            WARNING,
            f"app {app_name!r} is deployed but has no pippa version record "
            "(deployed by an older pippa or by hand): generate will refuse it",
            "Run `pippa deploy`.",
        )
    described = (
        f"app {app_name!r} is deployed (pippa {deployment.pippa_version}, {deployment.gpu}, "
        f"{deployment.timeout_s} s per render, up to {deployment.max_containers} containers"
        f"; speed levers: {deployed_levers(record) or 'none'})"
    )
    if deployment.pippa_version != __version__:
        return Check(
            "modal app", WARNING, described, f"Update it to pippa {__version__}: pippa deploy."
        )
    return Check("modal app", OK, described)


def check_local() -> Check:
    try:
        import torch
    except ImportError:
        return Check(
            "local gpu",
            WARNING,
            "torch is not installed: only the Modal backend is available",
            local_extra_hint(),
        )
    from importlib.util import find_spec

    if find_spec("diffusers") is None:  # importing it would cost seconds
        return Check("local gpu", WARNING, "diffusers is not installed", local_extra_hint())
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        memory = torch.cuda.get_device_properties(0).total_memory / 2**30
        return Check("local gpu", OK, f"CUDA GPU: {name} ({memory:.0f} GiB)")
    return Check(
        "local gpu",
        WARNING,
        f"torch {torch.__version__} sees no CUDA GPU: --backend local would run on the CPU",
        "Use the Modal backend, or install a CUDA build of torch on a GPU machine.",
    )


def check_encoder() -> Check:
    try:
        import av
    except ImportError:
        return Check(
            "mp4 encoder",
            WARNING,
            "PyAV is not installed: local rendering cannot encode MP4",
            f"{local_extra_hint()} Modal renders encode on Modal.",
        )
    if "libx264" not in av.codecs_available:
        return Check(
            "mp4 encoder",
            ERROR,
            "PyAV has no H.264 encoder (libx264)",
            "Reinstall PyAV from PyPI wheels: pip install --force-reinstall av.",
        )
    return Check("mp4 encoder", OK, f"H.264 via PyAV {av.__version__}")


def _with_timeout(work: Callable[[], None]) -> BaseException | None:
    """Run a network check with a deadline; the error it ended with (TimeoutError if late)."""
    from pippa_cli.deadline import call_with_deadline

    try:
        call_with_deadline(work, NETWORK_TIMEOUT_S + 2, name="pippa-doctor")
    except Exception as exc:
        return exc
    return None


def _short(error: BaseException) -> str:
    from pippa_cli.redaction import redact

    # Redacted before it is cut: a cut key would no longer match its value.
    text = redact(str(error)).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
