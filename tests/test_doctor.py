"""`pippa doctor`: one line per check, exit 1 on any error, secrets never shown.

Groq is a local pytest-httpserver; Modal is the stand-in (tests/modal_standin.py, handed
to the command) only in the tests that have fake credentials: the others ask the real SDK,
which finds no token.
"""

from __future__ import annotations

import json
import socket

import modal.exception
import pytest
from pytest_httpserver import HTTPServer
from typer.testing import Result

import pippa_cli
import pippa_cli.doctor
from tests.helpers import invoke
from tests.modal_standin import ModalStandIn

SECRET = "gsk_doctor_SECRET_do_not_print_42"
TOKEN_SECRET = "as-MODAL-SECRET-do-not-print"
MODELS_PATH = "/openai/v1/models"
MODELS = {"object": "list", "data": [{"id": "llama-3.1-8b-instant", "object": "model"}]}


@pytest.fixture(autouse=True)
def short_network_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pippa_cli.doctor, "NETWORK_TIMEOUT_S", 2.0)


def doctor(*args: str) -> Result:
    return invoke("doctor", *args)


def lines_by_check(stdout: str) -> dict[str, str]:
    """The check lines (not the hint lines), keyed by check name."""
    checks = {}
    for line in stdout.splitlines():
        status = line[:7].strip()
        if status in {"ok", "warning", "error"}:
            rest = line[9:]
            for name in ("pippa", "history", "groq", "modal token", "modal app", "local gpu"):
                if rest.startswith(name + " "):
                    checks[name] = line
            if rest.startswith("mp4 encoder"):
                checks["mp4 encoder"] = line
    return checks


def status_of(checks: dict[str, str], name: str) -> str:
    return checks[name].split()[0]


def json_checks(stdout: str) -> dict[str, dict]:
    data = json.loads(stdout)
    return {c["name"]: c for c in data["checks"]}


@pytest.fixture
def modal_credentials(
    monkeypatch: pytest.MonkeyPatch, modal_standin: ModalStandIn
) -> dict[str, object]:
    """Fake credentials (the stand-in's); the deployments Dict holds what a test puts in
    the returned dict (by default: the app deployed by this pippa with default settings)."""
    from pippa_cli.deployment import DeployConfig

    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test-token")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", TOKEN_SECRET)
    modal_standin.deployment = None  # no record but those in the dict below
    records = modal_standin.deployments.data
    records["app:pippa"] = DeployConfig().record()
    return records


def modal_lookup_raises(standin: ModalStandIn, error: Exception) -> list[tuple[str, str]]:
    """Every app lookup raises `error`; the lookups asked for, as (app, class)."""
    standin.lookup_error = error
    return standin.app_lookups


def app_lookup_succeeds(standin: ModalStandIn) -> None:
    """Modal's app lookup finds the app."""
    standin.deployed, standin.lookup_error = True, None


# --- nothing set up --------------------------------------------------------------------------


def test_nothing_set_up_is_an_error_for_the_modal_backend():
    result = doctor()

    assert result.exit_code == 1
    checks = lines_by_check(result.stdout)
    assert set(checks) == {"pippa", "history", "groq", "modal token", "local gpu", "mp4 encoder"}
    assert status_of(checks, "pippa") == "ok"
    assert status_of(checks, "history") == "ok"
    assert status_of(checks, "groq") == "warning"
    assert "GROQ_API_KEY is not set" in checks["groq"]
    assert status_of(checks, "modal token") == "error"
    assert "modal token new" in result.stdout
    assert status_of(checks, "mp4 encoder") == "ok"
    assert status_of(checks, "local gpu") in {"ok", "warning"}
    assert "Traceback" not in result.output


def test_local_backend_makes_the_missing_token_a_warning(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_BACKEND", "local")

    result = doctor()

    checks = lines_by_check(result.stdout)
    assert status_of(checks, "modal token") == "warning"
    errors = [name for name, line in checks.items() if line.startswith("error")]
    assert result.exit_code == (1 if errors else 0)
    assert errors == []  # CPU torch with PyAV: nothing is an error here


def test_json_shape():
    result = doctor("--json")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["ok"] is False
    assert [c["name"] for c in data["checks"]] == [
        "pippa",
        "history",
        "groq",
        "modal token",
        "local gpu",
        "mp4 encoder",
    ]
    for check in data["checks"]:
        assert set(check) == {"name", "status", "message", "hint"}
        assert check["status"] in {"ok", "warning", "error"}
    token = json_checks(result.stdout)["modal token"]
    assert token["status"] == "error"
    assert "modal token new" in token["hint"]


# --- Groq ---------------------------------------------------------------------------------------


@pytest.fixture
def groq_key(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> HTTPServer:
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    monkeypatch.setenv("GROQ_BASE_URL", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("PIPPA_BACKEND", "local")  # keep the Modal token out of the verdict
    return httpserver


def test_groq_key_accepted(groq_key: HTTPServer):
    groq_key.expect_request(
        MODELS_PATH, method="GET", headers={"Authorization": f"Bearer {SECRET}"}
    ).respond_with_json(MODELS)

    result = doctor()

    assert result.exit_code == 0, result.output
    checks = lines_by_check(result.stdout)
    assert status_of(checks, "groq") == "ok"
    assert "accepted by Groq" in checks["groq"]
    assert len(groq_key.log) == 1
    assert SECRET not in result.output


def test_groq_key_rejected(groq_key: HTTPServer):
    groq_key.expect_request(MODELS_PATH, method="GET").respond_with_json(
        {"error": {"message": f"Invalid API Key {SECRET}", "type": "invalid_request_error"}},
        status=401,
    )

    result = doctor()

    assert result.exit_code == 1
    checks = lines_by_check(result.stdout)
    assert status_of(checks, "groq") == "error"
    assert "rejected" in checks["groq"]
    assert "console.groq.com/keys" in result.stdout
    assert SECRET not in result.output


def test_groq_key_rejected_json(groq_key: HTTPServer):
    groq_key.expect_request(MODELS_PATH).respond_with_json({"error": {}}, status=401)

    result = doctor("--json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert json_checks(result.stdout)["groq"]["status"] == "error"
    assert SECRET not in result.output


def test_groq_unreachable_is_a_warning(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    monkeypatch.setenv("GROQ_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PIPPA_BACKEND", "local")

    result = doctor()

    assert result.exit_code == 0, result.output
    checks = lines_by_check(result.stdout)
    assert status_of(checks, "groq") == "warning"
    assert "could not be reached" in checks["groq"]
    assert SECRET not in result.output


# --- Modal, with (fake) credentials ---------------------------------------------------------------


def test_app_not_deployed(modal_credentials: None, modal_standin: ModalStandIn):
    looked_up = modal_lookup_raises(
        modal_standin, modal.exception.NotFoundError("Lookup failed for Cls 'LTX' from 'pippa'")
    )

    result = doctor()

    assert result.exit_code == 1
    assert looked_up == [("pippa", "LTX")]
    checks = lines_by_check(result.stdout)
    assert status_of(checks, "modal token") == "ok"
    assert status_of(checks, "modal app") == "error"
    assert "not deployed" in checks["modal app"]
    assert "pippa deploy" in result.stdout
    assert TOKEN_SECRET not in result.output


def test_app_not_deployed_is_a_warning_for_local_users(
    modal_credentials: None, modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    modal_lookup_raises(modal_standin, modal.exception.NotFoundError("not found"))
    monkeypatch.setenv("PIPPA_BACKEND", "local")
    monkeypatch.setenv("PIPPA_MODAL_APP", "my-pippa")

    result = doctor("--json")

    assert result.exit_code == 0, result.output
    app_check = json_checks(result.stdout)["modal app"]
    assert app_check["status"] == "warning"
    assert "'my-pippa' is not deployed" in app_check["message"]


def test_rejected_modal_token(modal_credentials: None, modal_standin: ModalStandIn):
    modal_lookup_raises(modal_standin, modal.exception.AuthError("token revoked"))

    result = doctor("--json")

    assert result.exit_code == 1
    checks = json_checks(result.stdout)
    assert checks["modal token"]["status"] == "error"
    assert "modal token new" in checks["modal token"]["hint"]
    assert checks["modal app"]["status"] == "warning"
    assert TOKEN_SECRET not in result.output


def test_modal_unreachable_is_a_warning(modal_credentials: None, modal_standin: ModalStandIn):
    modal_lookup_raises(modal_standin, OSError("Network is unreachable"))

    result = doctor("--json")

    checks = json_checks(result.stdout)
    assert checks["modal token"]["status"] == "ok"
    assert checks["modal app"]["status"] == "warning"
    assert "could not be reached" in checks["modal app"]["message"]
    assert result.exit_code == 0, result.output


def test_app_deployed(modal_credentials: None, modal_standin: ModalStandIn):
    app_lookup_succeeds(modal_standin)

    result = doctor("--json")

    assert result.exit_code == 0, result.output
    assert json_checks(result.stdout)["modal app"] == {
        "name": "modal app",
        "status": "ok",
        "message": f"app 'pippa' is deployed (pippa {pippa_cli.__version__}, H100, "
        "1800 s per render, up to 4 containers; speed levers: none)",
        "hint": None,
    }


def test_the_deployed_speed_levers_are_shown(
    modal_credentials: dict[str, object], modal_standin: ModalStandIn
):
    from pippa_cli.deployment import DeployConfig

    config = DeployConfig(compile=True, attention="cudnn", gpu_snapshot=True)
    modal_credentials["app:pippa"] = config.record()
    app_lookup_succeeds(modal_standin)

    result = doctor("--json")

    message = json_checks(result.stdout)["modal app"]["message"]
    assert message.endswith("; speed levers: compile, attention cudnn; GPU snapshots)")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, "has no pippa version record"),
        ("old", "app 'pippa' is deployed (pippa 0.0.1"),
    ],
)
def test_an_app_deployed_by_another_pippa_is_a_warning(
    modal_credentials: dict[str, object], modal_standin: ModalStandIn, record, expected
):
    from pippa_cli.deployment import DeployConfig

    if record == "old":
        modal_credentials["app:pippa"] = {**DeployConfig().record(), "pippa_version": "0.0.1"}
    else:
        del modal_credentials["app:pippa"]

    app_lookup_succeeds(modal_standin)

    result = doctor("--json")

    check = json_checks(result.stdout)["modal app"]
    assert check["status"] == "warning"
    assert expected in check["message"]
    assert "pippa deploy" in check["hint"]


def test_no_backend_that_can_render_is_an_error(monkeypatch: pytest.MonkeyPatch):
    """Local users too: no Modal token and no local rendering stack means nothing works."""
    import sys

    monkeypatch.setenv("PIPPA_BACKEND", "local")  # the missing token alone is a warning here
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails: no local extra

    result = doctor("--json")

    assert result.exit_code == 1, result.output
    checks = json_checks(result.stdout)
    assert checks["modal token"]["status"] == "warning"
    assert checks["local gpu"]["status"] == "warning"
    assert checks["backends"]["status"] == "error"
    assert "no backend can render" in checks["backends"]["message"]
    assert "[local]" in checks["backends"]["hint"]


def test_one_backend_that_can_render_is_enough(
    modal_credentials: dict[str, object],
    modal_standin: ModalStandIn,
    monkeypatch: pytest.MonkeyPatch,
):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)

    app_lookup_succeeds(modal_standin)

    result = doctor("--json")

    assert result.exit_code == 0, result.output
    assert "backends" not in json_checks(result.stdout)
