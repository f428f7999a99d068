"""What `pip install pippa-cli` puts on a machine, and what `pippa deploy` then deploys.

The wheel is built from this checkout and installed into a fresh venv (without its
dependencies, which that venv borrows from the test environment through a .pth file, so
no network is needed and the test environment's own pippa stays invisible).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from importlib.metadata import version
from pathlib import Path

import pytest

from pippa_cli.modal_app.pins import PINS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(python of a fresh venv with the built wheel installed, its site-packages)."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = dist.glob("pippa_cli-*.whl")
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    # The dependencies (modal, typer, ...) from the test environment; a plain path line
    # does not run that directory's own .pth files, so its editable pippa stays out.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    return python, site


@pytest.mark.slow
def test_the_app_installs_inside_pippa_and_nothing_generic(installed: tuple[Path, Path]):
    python, site = installed

    assert not (site / "modal_app").exists()
    assert (site / "pippa_cli" / "modal_app" / "app.py").is_file()
    assert (site / "pippa_cli" / "modal_app" / "pins.py").is_file()
    top_level = {
        p.name
        for p in site.iterdir()
        if p.is_dir() and not p.name.endswith("-info") and p.name != "bin"  # the pippa script
    }
    assert top_level == {"pippa_cli"}
    where = subprocess.check_output(
        [str(python), "-c", "import pippa_cli.modal_app.app as a; print(a.__file__)"],
        text=True,
        cwd=site.parent,
    ).strip()
    assert Path(where) == site / "pippa_cli" / "modal_app" / "app.py"


_DEPLOY_FROM_HERE = """
import os, subprocess, sys
from pippa_cli.deploy import run_modal_deploy
from pippa_cli.deployment import DeployConfig
# As the `pippa` script runs: imported from its install, working in the user's directory.
os.chdir(sys.argv[1])
try:
    run_modal_deploy(DeployConfig(), timeout=12)
except subprocess.TimeoutExpired:
    pass  # modal retries the unreachable server; the import has happened long before
"""


@pytest.mark.slow
def test_deploy_ships_the_installed_app_whatever_the_current_directory_holds(
    installed: tuple[Path, Path], tmp_path: Path
):
    """`modal deploy -m` imports the app before it contacts Modal; with the server out of
    reach, which files it imported shows what it would have deployed."""
    python, _ = installed
    project = tmp_path / "users-project"
    for package in ("modal_app", "pippa_cli", "pippa_cli/modal_app", "modal"):
        (project / package).mkdir(parents=True)
        marker = tmp_path / f"imported-{package.replace('/', '.')}"
        (project / package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (project / "modal_app" / "app.py").write_text("raise SystemExit('the wrong app')\n")
    (project / "pippa_cli" / "modal_app" / "app.py").write_text("raise SystemExit('wrong')\n")
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "MODAL_SERVER_URL": "http://127.0.0.1:1",
        "MODAL_TOKEN_ID": "ak-packaging-test",
        "MODAL_TOKEN_SECRET": "as-packaging-test",
        "PYTHONPROFILEIMPORTTIME": "1",  # every import is listed on stderr
    }

    proc = subprocess.run(
        [str(python), "-c", _DEPLOY_FROM_HERE, str(project)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert sorted(p.name for p in tmp_path.glob("imported-*")) == []
    # The installed app's module ran: its first import (pins) is listed. (Its body then
    # waits on the unreachable server, so the app module's own line never comes.)
    assert re.search(r"\|\s+pippa_cli\.modal_app\.pins$", proc.stderr, re.MULTILINE)
    assert "the wrong app" not in proc.stderr


def test_the_image_pins_are_what_the_tests_run():
    for pin in PINS:
        name, _, wanted = pin.partition("==")
        installed = version(name).split("+")[0]  # torch's local build tag (+cpu)
        assert installed == wanted, (name, installed, wanted)
