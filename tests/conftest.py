"""Shared fixtures: a fresh sandbox per test, reached over real HTTP through httpx's ASGI transport."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator

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
