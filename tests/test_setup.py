"""Setting pippa up: the local-extra hint names what works, and a usage error writes nothing.

The hint is checked against this test run's own installed pippa (its PEP 610
direct_url.json) and against dist-info directories written the way pip, uv and pipx write
them, read back through importlib.metadata.
"""

from __future__ import annotations

import json
import shlex
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from pippa_cli.install_hint import local_extra_command, local_extra_hint
from tests.helpers import invoke

PROMPT = "a red fox in the snow"


# --- --detach with the local backend: refused, nothing created -----------------------------


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(["--backend", "local"], {}, id="flag"),
        pytest.param([], {"PIPPA_BACKEND": "local"}, id="env"),
        pytest.param(["--backend", "local", "--json"], {}, id="json"),
    ],
)
def test_detach_with_the_local_backend_creates_nothing(
    args: list[str], env: dict[str, str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = invoke("generate", PROMPT, "--no-enhance", "--detach", *args)

    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "--detach needs the Modal backend" in result.stderr
    assert result.stdout == ""
    assert not clean_env.exists()  # PIPPA_HOME: no history file, not even the directory
    assert list(Path.cwd().iterdir()) == []


# --- the local-extra hint ------------------------------------------------------------------


def installed() -> metadata.Distribution:
    return metadata.distribution("pippa-cli")


def installed_source() -> tuple[Path, bool]:
    """Where this test run's pippa was installed from (a directory), and whether editable."""
    text = installed().read_text("direct_url.json")
    if text is None:
        pytest.skip("pippa is not installed from a directory here (no direct_url.json)")
    info = json.loads(text)
    editable = bool(info.get("dir_info", {}).get("editable"))
    return Path(unquote(urlparse(info["url"]).path)), editable


def expected_pip_command(source: Path, editable: bool) -> str:
    edit = ["--editable"] if editable else []
    return shlex.join([sys.executable, "-m", "pip", "install", *edit, f"{source}[local]"])


def test_the_installed_pippa_names_its_own_source_and_interpreter():
    source, editable = installed_source()
    if (installed().read_text("INSTALLER") or "").strip() != "pip":
        pytest.skip("pippa was not installed by pip here")

    command = local_extra_command()

    assert command == expected_pip_command(source, editable)
    assert "pippa-cli[local]" not in command  # not on PyPI: the name alone cannot install
    assert local_extra_hint() == (
        f"Install the local extra: {command} "
        "(for a GPU, install the torch build for your CUDA first)."
    )


def test_generate_without_the_local_stack_hints_the_working_command(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` fails

    result = invoke("generate", PROMPT, "--no-enhance", "--backend", "local")

    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "local rendering needs diffusers" in result.stderr
    assert local_extra_command() in result.stderr
    assert "pip install 'pippa-cli[local]'" not in result.stderr


@pytest.mark.parametrize("missing", ["torch", "diffusers", "av"])
def test_doctor_hints_the_working_command(missing: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, missing, None)
    if missing == "diffusers":  # doctor looks for it without importing it
        monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)

    result = invoke("doctor", "--json")

    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    name = "mp4 encoder" if missing == "av" else "local gpu"
    assert local_extra_command() in checks[name]["hint"]
    assert "'pippa-cli[local]'" not in result.stdout


# Dist-info directories as installers write them. -----------------------------------------


def dist_info(
    root: Path, direct_url: dict[str, object] | None, installer: str = "pip"
) -> metadata.Distribution:
    path = root / "site-packages" / "pippa_cli-0.1.0.dist-info"
    path.mkdir(parents=True)
    (path / "METADATA").write_text("Metadata-Version: 2.4\nName: pippa-cli\nVersion: 0.1.0\n")
    (path / "INSTALLER").write_text(installer + "\n")
    if direct_url is not None:
        (path / "direct_url.json").write_text(json.dumps(direct_url))
    return metadata.PathDistribution(path)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A source directory with a space in its name: the command must quote it."""
    path = tmp_path / "my pippa"
    path.mkdir()
    (path / "pyproject.toml").write_text("[project]\nname = 'pippa-cli'\n")
    return path


def test_a_plain_directory_install(tmp_path: Path, checkout: Path):
    dist = dist_info(tmp_path, {"url": checkout.as_uri(), "dir_info": {}})

    assert local_extra_command(dist) == expected_pip_command(checkout, editable=False)
    assert "'" in local_extra_command(dist)  # quoted: the shell keeps the space and brackets


def test_an_editable_install(tmp_path: Path, checkout: Path):
    dist = dist_info(tmp_path, {"url": checkout.as_uri(), "dir_info": {"editable": True}})

    assert local_extra_command(dist) == expected_pip_command(checkout, editable=True)


def test_a_git_install_names_the_repository_and_revision(tmp_path: Path):
    url = "https://example.com/me/pippa.git"
    dist = dist_info(
        tmp_path,
        {"url": url, "vcs_info": {"vcs": "git", "requested_revision": "v0.1", "commit_id": "ab12"}},
    )

    assert local_extra_command(dist) == shlex.join(
        [sys.executable, "-m", "pip", "install", f"pippa-cli[local] @ git+{url}@v0.1"]
    )


def test_an_archive_install_uses_a_direct_reference(tmp_path: Path):
    archive = tmp_path / "pippa_cli-0.1.0.tar.gz"
    archive.write_bytes(b"")
    dist = dist_info(tmp_path, {"url": archive.as_uri(), "archive_info": {}})

    assert local_extra_command(dist).endswith(shlex.quote(f"pippa-cli[local] @ {archive.as_uri()}"))


@pytest.mark.parametrize(
    "direct_url",
    [
        pytest.param(None, id="no-direct-url"),
        pytest.param({"url": "file:///no/such/pippa/checkout", "dir_info": {}}, id="deleted"),
        pytest.param({"dir_info": {}}, id="malformed"),
    ],
)
def test_an_unknown_source_says_to_reinstall_from_the_source_directory(
    tmp_path: Path, direct_url: dict[str, object] | None
):
    dist = dist_info(tmp_path, direct_url)

    hint = local_extra_hint(dist)

    assert hint.startswith("Reinstall pippa from its source directory with the local extra: ")
    assert shlex.join([sys.executable, "-m", "pip", "install", "/path/to/pippa[local]"]) in hint


def test_uv_pip_installs_are_hinted_with_uv(tmp_path: Path, checkout: Path):
    dist = dist_info(tmp_path, {"url": checkout.as_uri(), "dir_info": {}}, installer="uv")

    assert local_extra_command(dist) == shlex.join(
        ["uv", "pip", "install", "--python", sys.executable, f"{checkout}[local]"]
    )


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        pytest.param("uv-receipt.toml", ["uv", "tool", "install", "--reinstall"], id="uv-tool"),
        pytest.param("pipx_metadata.json", ["pipx", "install", "--force"], id="pipx"),
    ],
)
def test_tool_installs_are_reinstalled_through_their_tool(
    marker: str,
    expected: list[str],
    tmp_path: Path,
    checkout: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    env = tmp_path / "tool-env"
    env.mkdir()
    (env / marker).write_text("")
    monkeypatch.setattr(sys, "prefix", str(env))
    dist = dist_info(tmp_path, {"url": checkout.as_uri(), "dir_info": {}}, installer="uv")

    assert local_extra_command(dist) == shlex.join([*expected, f"{checkout}[local]"])
