"""TLS and transport checks for real MISP instances: verification on, custom CA, client certificates."""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from reconciler.manifest.document import Instance


class InsecureTransport(Exception):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, insecure_http: bool) -> None:
    """Refuse to send an API key in clear over the network: http:// only to loopback, or when asked."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or "") and not insecure_http:
        raise InsecureTransport(f"refusing plain http:// to {parts.hostname}: the API key would cross the "
                                "network in clear. Use https://, or pass --insecure-http if you must.")


def client_tls(instance: Instance, *, base_dir: Path, resolve_secret: Callable[..., str]) -> dict[str, Any]:
    """MispClient keyword arguments: an SSLContext with the CA bundle and client certificate, or verify=False."""
    if not instance.verify_tls:
        return {"verify": False}
    context = ssl.create_default_context(cafile=str(base_dir / instance.ca_bundle) if instance.ca_bundle else None)
    if instance.client_cert is not None:
        key_text = resolve_secret(instance.client_cert.key)
        # load_cert_chain wants a file: a private one (0600), removed at once.
        fd, key_path = tempfile.mkstemp(prefix="misp-client-key-")
        try:
            os.write(fd, key_text.encode())
            os.close(fd)
            context.load_cert_chain(str(base_dir / instance.client_cert.cert), key_path)
        finally:
            os.unlink(key_path)
    return {"verify": context}
