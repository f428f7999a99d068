"""A Hugging Face Hub-compatible HTTP server on 127.0.0.1, for `HF_ENDPOINT`.

It serves directories as model repos, each at one commit (also reachable by the branch and
tag names given), with the endpoints huggingface_hub 2.x and diffusers use:

    GET  /api/models/{repo}[/revision/{rev}]      model info: id, sha, siblings
    GET  /api/models/{repo}/tree/{rev}            recursive file listing (snapshot_download)
    HEAD/GET /{repo}/resolve/{rev}/{path}         a file, with X-Repo-Commit and ETag

Unknown repos, revisions and files answer 404 with Hugging Face's `X-Error-Code` header
(RepoNotFound, RevisionNotFound, EntryNotFound). Every request is logged.

A plugin (conftest lists it); it has no asserts to rewrite: PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest


@dataclass
class Repo:
    root: Path
    sha: str
    refs: tuple[str, ...] = ("main",)

    @property
    def files(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )

    @property
    def dirs(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_dir()
        )


@dataclass
class HubServer:
    repos: dict[str, Repo] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    tokens: list[str | None] = field(default_factory=list)  # each request's bearer token
    # Gated repos: their files only for these tokens (Hugging Face's 401/403 GatedRepo else).
    gated: dict[str, set[str]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo_id: str, root: Path, sha: str, refs: tuple[str, ...] = ("main",)) -> None:
        self.repos[repo_id] = Repo(root, sha, refs)

    def downloaded(self) -> list[str]:
        """The files fetched with GET from any repo (not HEAD)."""
        return [path for method, path in self.log if method == "GET" and "/resolve/" in path]

    def start(self) -> HubServer:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle(send_body=True)

            def do_HEAD(self) -> None:
                self._handle(send_body=False)

            def _reply(self, code: int, body: Any, headers: list[tuple[str, str]], send: bool):
                if not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                    headers = [("Content-Type", "application/json"), *headers]
                self.send_response(code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send:
                    self.wfile.write(body)

            def _error(self, code: int, error_code: str, send: bool) -> None:
                headers = [("X-Error-Code", error_code), ("X-Error-Message", error_code)]
                self._reply(code, {"error": error_code}, headers, send)

            def _handle(self, send_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                hub.log.append((self.command, path))
                auth = self.headers.get("authorization") or ""
                hub.tokens.append(auth.removeprefix("Bearer ") or None)
                if path.startswith("/api/models/"):
                    self._api(path[len("/api/models/") :], send_body)
                elif "/resolve/" in path:
                    self._resolve(path.lstrip("/"), send_body)
                else:
                    self._error(404, "RepoNotFound", send_body)

            def _find(self, text: str) -> tuple[str, Repo, str] | None:
                for repo_id, repo in hub.repos.items():
                    if text == repo_id or text.startswith(repo_id + "/"):
                        return repo_id, repo, text[len(repo_id) :].lstrip("/")
                return None

            def _api(self, rest: str, send: bool) -> None:
                found = self._find(rest)
                if found is None:
                    return self._error(404, "RepoNotFound", send)
                repo_id, repo, tail = found
                kind, _, rev = tail.partition("/")
                rev = rev.split("/")[0] if kind == "tree" else (rev or "main")
                if rev not in (repo.sha, *repo.refs):
                    return self._error(404, "RevisionNotFound", send)
                if kind == "tree":
                    entries: list[dict[str, Any]] = [
                        {"type": "directory", "oid": "0" * 40, "size": 0, "path": d}
                        for d in repo.dirs
                    ]
                    for name in repo.files:
                        data = (repo.root / name).read_bytes()
                        oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                        entries.append(
                            {"type": "file", "oid": oid, "size": len(data), "path": name}
                        )
                    return self._reply(200, entries, [], send)
                siblings = [{"rfilename": name} for name in repo.files]
                return self._reply(
                    200, {"id": repo_id, "sha": repo.sha, "siblings": siblings}, [], send
                )

            def _resolve(self, rest: str, send: bool) -> None:
                repo_part, _, tail = rest.partition("/resolve/")
                repo = hub.repos.get(repo_part)
                if repo is None:
                    return self._error(404, "RepoNotFound", send)
                rev, _, name = tail.partition("/")
                if rev not in (repo.sha, *repo.refs):
                    return self._error(404, "RevisionNotFound", send)
                if repo_part in hub.gated and hub.tokens[-1] not in hub.gated[repo_part]:
                    return self._error(403 if hub.tokens[-1] else 401, "GatedRepo", send)
                if name not in repo.files:
                    return self._error(404, "EntryNotFound", send)
                data = (repo.root / name).read_bytes()
                headers = [
                    ("X-Repo-Commit", repo.sha),
                    ("ETag", '"' + hashlib.sha256(data).hexdigest() + '"'),
                    ("Content-Type", "application/octet-stream"),
                ]
                return self._reply(200, data, headers, send)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A running Hub; HF_ENDPOINT points at it and the Hub check is switched back on."""
    server = HubServer().start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


# The token the `gated_hub` fixture's repository accepts.
GATED_TOKEN = "hf_gatedTokenForTests0123456789abcdef"


@pytest.fixture
def gated_hub(hub: HubServer, tmp_path: Path) -> HubServer:
    """The Hub, serving the ltx-2 preset's repository at its pinned commit, gated as
    Hugging Face gates LTX-2.5: its files only for GATED_TOKEN."""
    from pippa_cli.presets import PRESETS

    preset = PRESETS["ltx-2"]
    root = tmp_path / "ltx2-repo"
    root.mkdir()
    (root / "model_index.json").write_text(json.dumps({"_class_name": "LTX2Pipeline"}))
    assert preset.revision is not None
    hub.add(preset.repo_id, root, preset.revision)
    hub.gated[preset.repo_id] = {GATED_TOKEN}
    return hub
