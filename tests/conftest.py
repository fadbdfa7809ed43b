"""Shared fixtures: a fresh sandbox per test, reached over real HTTP through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

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
