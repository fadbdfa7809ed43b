"""Shared fixtures: a fresh sandbox per test, reached over real HTTP through httpx's ASGI transport."""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from reconciler.sandbox import DEFAULT_ADMIN_KEY, SandboxApp, create_app

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


@pytest.fixture
def served_sandbox() -> Iterator[tuple[str, str]]:
    """A fresh sandbox served by uvicorn on 127.0.0.1 (free port) in a thread: (base url, admin key).

    For clients that need a real socket (PyMISP, requests, curl); everything else should use sandbox_http.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(base_url=url), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the sandbox server did not start")
        threading.Event().wait(0.01)
    try:
        yield url, DEFAULT_ADMIN_KEY
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- canaries: every secret a test uses is a unique random value that must never show up anywhere --------
class CanaryRegistry:
    """Session-wide canary secrets. The same name gives the same value for the whole session, so a sweep at
    the end can look for every canary in state databases, plan files, logs and captured output."""

    PREFIX = "CANARY"  # a sweep may also grep for the prefix to catch values it was not told about

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name not in self._values:
            label = re.sub(r"[^A-Za-z0-9]", "", name)[:16] or "secret"
            self._values[name] = f"{self.PREFIX}-{label}-{secrets.token_hex(12)}"
        return self._values[name]

    def values(self) -> tuple[str, ...]:
        return tuple(self._values.values())

    def assert_absent(self, where: str | bytes | Path) -> None:
        """Fail naming the canary (its name, not its value) found in text, bytes, or a file's bytes."""
        data = where.read_bytes() if isinstance(where, Path) else where
        blob = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
        found = [name for name, value in self._values.items() if value.encode() in blob]
        assert not found, f"canary secret(s) {found} leaked into {where if isinstance(where, Path) else 'output'}"


CANARIES = CanaryRegistry()


@pytest.fixture(scope="session")
def canary() -> Callable[[str], str]:
    """canary("misp-key") -> a unique random secret value, the same for the whole session."""
    return CANARIES.get


@pytest.fixture(scope="session")
def assert_no_canary() -> Callable[[str | bytes | Path], None]:
    return CANARIES.assert_absent


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
