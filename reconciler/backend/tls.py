"""TLS and transport checks for real MISP instances: verification on, custom CA, client certificates.

`tls_options` returns keyword arguments for `MispClient(...)`: always `verify=` an `ssl.SSLContext` (or
False), never httpx's `cert=`, which wants the private key in a file on disk. The client key comes from a
secret reference and is handed to OpenSSL through an anonymous in-memory file where Linux offers one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.model.secrets import SecretRef

if TYPE_CHECKING:
    from reconciler.manifest.document import Instance

ResolveSecret = Callable[[SecretRef], str]


class InsecureTransport(Exception):
    """A URL the API key must not be sent to."""


class TlsConfigError(Exception):
    """A CA bundle or client certificate that cannot be used. Never carries key material."""


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
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InsecureTransport(f"not an http(s) URL with a host: {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not insecure_http:
        raise InsecureTransport(f"refusing plain http:// to {parts.hostname}: the API key would cross the "
                                "network in clear. Use https://, or pass --insecure-http if you must.")


def tls_options(*, verify_tls: bool = True, ca_bundle: Path | None = None,
                client_cert: tuple[Path, str | SecretRef] | None = None,
                resolve_secret: ResolveSecret | None = None) -> dict[str, Any]:
    """MispClient keyword arguments. `client_cert` is (certificate file, key as PEM text or a reference)."""
    if not verify_tls and client_cert is None:
        return {"verify": False}
    context = verifying_context(ca_bundle) if verify_tls else unverified_context()
    if client_cert is not None:
        cert_path, key = client_cert
        if isinstance(key, SecretRef):
            if resolve_secret is None:
                raise ValueError("a client key given as a secret reference needs resolve_secret")
            key = resolve_secret(key)
        load_client_cert(context, cert_path, key)
    return {"verify": context}


def client_tls(instance: Instance, *, base_dir: Path, resolve_secret: ResolveSecret) -> dict[str, Any]:
    """tls_options for a manifest's `instance:`; its file paths are relative to the manifest directory."""
    cert = instance.client_cert
    return tls_options(
        verify_tls=instance.verify_tls,
        ca_bundle=base_dir / instance.ca_bundle if instance.ca_bundle else None,
        client_cert=(base_dir / cert.cert, cert.key) if cert is not None else None,
        resolve_secret=resolve_secret)


def verifying_context(ca_bundle: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot use CA bundle {ca_bundle}: {reason(exc)}") from None


def unverified_context() -> ssl.SSLContext:
    """verify_tls: false with a client certificate: the server still asks for our certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def load_client_cert(context: ssl.SSLContext, cert_path: Path, key_pem: str) -> None:
    try:
        with key_file(key_pem) as key_path:
            context.load_cert_chain(str(cert_path), key_path)
    except (OSError, ssl.SSLError) as exc:
        # OpenSSL's reason (no such file, key values mismatch, …) names no key material.
        raise TlsConfigError(f"cannot use client certificate {cert_path} with its key: {reason(exc)}") from None


@contextlib.contextmanager
def key_file(key_pem: str) -> Iterator[str]:
    """A path OpenSSL can read the key from: an anonymous memory file (never on disk), else a 0600 temp
    file removed as soon as the key is loaded."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("misp-client-key", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, key_pem.encode())
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="misp-client-key-")  # mkstemp creates it 0600
    try:
        os.write(fd, key_pem.encode())
        os.close(fd)
        yield path
    finally:
        os.unlink(path)


def reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
