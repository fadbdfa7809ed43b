"""Where a plan goes: a real MISP (instance.url) or, with no url, the embedded sandbox in-process.

The very same MispClient and adapters serve both; only the httpx transport differs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from reconciler.backend.client import MispClient, RequestRecord

if TYPE_CHECKING:
    from reconciler.manifest.document import Instance

SANDBOX_URL = "http://sandbox.invalid"  # never resolved: the ASGI transport answers in-process


def sandbox_db_url(state_dir: Path, instance_name: str) -> str:
    state_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state_dir / f'{instance_name}.sandbox.db'}"


def open_client(instance: Instance | None, *, state_dir: Path, base_dir: Path,
                resolve_secret: Callable[..., str], concurrency: int = 8,
                on_request: Callable[[RequestRecord], None] | None = None,
                insecure_http: bool = False) -> MispClient:
    """A client for the instance a manifest set describes. The key is resolved here, at the edge."""
    name = instance.name if instance is not None and instance.name else "sandbox"
    url = instance.url if instance is not None else None
    if not url:
        from reconciler.sandbox import DEFAULT_ADMIN_KEY, create_app

        app = create_app(sandbox_db_url(state_dir, name))
        return MispClient(SANDBOX_URL, DEFAULT_ADMIN_KEY, transport=httpx.ASGITransport(app=app),
                          concurrency=concurrency, on_request=on_request)
    assert instance is not None
    if instance.key is None:
        raise ValueError("instance.key is required when instance.url is set")
    from reconciler.backend.tls import check_url, client_tls

    check_url(url, insecure_http=insecure_http)
    tls = client_tls(instance, base_dir=base_dir, resolve_secret=resolve_secret)
    return MispClient(url, resolve_secret(instance.key), concurrency=concurrency, on_request=on_request,
                      **tls)
