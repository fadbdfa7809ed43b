"""Shared fixtures: a fresh sandbox per test, reached over real HTTP through httpx's ASGI transport."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from reconciler.sandbox import DEFAULT_ADMIN_KEY, SandboxApp, create_app

# tests.canaries: canary secrets and the end-of-session sweep for them (issue #9); pytester: to test that sweep.
pytest_plugins = ["pytester", "tests.canaries"]

ADMIN_HEADERS = {"Authorization": DEFAULT_ADMIN_KEY, "Accept": "application/json",
                 "Content-Type": "application/json"}


@pytest.fixture
def sandbox_app() -> SandboxApp:
    return create_app()


@pytest.fixture
async def sandbox_http(sandbox_app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client on a fresh sandbox, authenticated as its site admin."""
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080",
                                 headers=ADMIN_HEADERS) as client:
        yield client


class ServedSandbox:
    """A sandbox served by uvicorn on 127.0.0.1 (free port) in a thread, stopped by `stop()`."""

    def __init__(self, app: SandboxApp | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.app = app or create_app(base_url=self.url)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def serve_sandbox() -> Iterator[Callable[..., tuple[str, str, SandboxApp]]]:
    """A factory: serve_sandbox(app=None) -> (base url, admin key, app), each served on its own free port.
    Every server it started is stopped at teardown."""
    served: list[ServedSandbox] = []

    def serve(app: SandboxApp | None = None) -> tuple[str, str, SandboxApp]:
        served.append(ServedSandbox(app))
        return served[-1].url, served[-1].app.state.admin_key, served[-1].app

    try:
        yield serve
    finally:
        for one in served:
            one.stop()


@pytest.fixture
def served_sandbox(serve_sandbox: Callable[..., tuple[str, str, SandboxApp]]) -> tuple[str, str]:
    """A fresh sandbox served by uvicorn on 127.0.0.1 (free port) in a thread: (base url, admin key).

    For clients that need a real socket (PyMISP, requests, curl); everything else should use sandbox_http.
    """
    url, key, _app = serve_sandbox()
    return url, key


@pytest.fixture
def gnupg_home() -> Iterator[Path]:
    """A throwaway GNUPGHOME (mode 0700). Short path under /tmp: gpg-agent's socket path must stay short.
    Any agent gpg started for it is stopped at the end."""
    home = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))
    try:
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the transcript conformance table (steps matched per scenario) after any run that replayed them.

    Lives here, not in tests/sandbox/: under pytest-xdist the controller loads only the top-level conftest.
    The replays ran in worker processes, so the controller replays once more to print the figure (seconds)."""
    reports = [r for reports in terminalreporter.stats.values() for r in reports
               if getattr(r, "nodeid", "").startswith("tests/sandbox/test_conformance.py")]
    if not reports:
        return
    from tests.sandbox.conformance import replay, scenarios, table

    terminalreporter.write_sep("-", "MISP 2.5.1 transcript conformance (steps matched / recorded)")
    terminalreporter.write_line(table([replay(path) for path in scenarios()]))
