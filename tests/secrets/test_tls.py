"""Transport security against a real TLS server on 127.0.0.1 (the sandbox behind uvicorn), with a CA,
server and client certificates generated for the session by the openssl CLI."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from reconciler.backend.client import MispClient
from reconciler.backend.errors import Unreachable
from reconciler.backend.tls import InsecureTransport, TlsConfigError, check_url, client_tls, tls_options
from reconciler.manifest.document import Instance
from reconciler.model.secrets import SecretRef
from reconciler.sandbox import DEFAULT_ADMIN_KEY, create_app
from tests.secrets.conftest import Pki


def serve_tls(pki: Pki, *, require_client_cert: bool) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(create_app(base_url=url), log_level="critical", lifespan="off",
                            ssl_certfile=str(pki.server_cert), ssl_keyfile=str(pki.server_key),
                            ssl_ca_certs=str(pki.ca),
                            ssl_cert_reqs=ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the TLS sandbox did not start")
        threading.Event().wait(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[str]:
    yield from serve_tls(pki, require_client_cert=False)


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[str]:
    yield from serve_tls(pki, require_client_cert=True)


def get_version(url: str, options: dict[str, Any]) -> Any:
    async def call() -> Any:
        async with MispClient(url, DEFAULT_ADMIN_KEY, **options) as client:
            return await client.get("/servers/getVersion")

    return asyncio.run(call())


def test_custom_ca_bundle_verifies_the_server(tls_server: str, pki: Pki) -> None:
    answer = get_version(tls_server, tls_options(ca_bundle=pki.ca))
    assert "version" in answer


def test_without_the_ca_the_server_is_refused(tls_server: str, pki: Pki) -> None:
    with pytest.raises(Unreachable):
        get_version(tls_server, tls_options())
    with pytest.raises(Unreachable):
        get_version(tls_server, tls_options(ca_bundle=pki.other_ca))


def test_verify_off_accepts_the_server(tls_server: str) -> None:
    assert tls_options(verify_tls=False) == {"verify": False}
    assert "version" in get_version(tls_server, tls_options(verify_tls=False))


def test_server_requiring_client_certs_accepts_ours(mtls_server: str, pki: Pki) -> None:
    ref = SecretRef(env="CLIENT_KEY")
    resolved: list[SecretRef] = []

    def resolve(secret: SecretRef) -> str:
        resolved.append(secret)
        return pki.client_key.read_text()

    options = tls_options(ca_bundle=pki.ca, client_cert=(pki.client_cert, ref), resolve_secret=resolve)
    assert resolved == [ref]
    assert "version" in get_version(mtls_server, options)
    # verify_tls: false still presents the client certificate.
    insecure = tls_options(verify_tls=False, client_cert=(pki.client_cert, pki.client_key.read_text()))
    assert "version" in get_version(mtls_server, insecure)


def test_server_requiring_client_certs_refuses_none(mtls_server: str, pki: Pki) -> None:
    with pytest.raises(Unreachable):
        get_version(mtls_server, tls_options(ca_bundle=pki.ca))


def test_client_tls_from_an_instance(mtls_server: str, pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    for name in ("ca.pem", "client.pem"):
        (tmp_path / "certs" / name).write_bytes((pki.ca.parent / name).read_bytes())
    instance = Instance.model_validate({"url": mtls_server, "ca_bundle": "certs/ca.pem",
                                        "client_cert": {"cert": "certs/client.pem", "key": {"env": "K"}}})
    options = client_tls(instance, base_dir=tmp_path, resolve_secret=lambda ref: pki.client_key.read_text())
    assert "version" in get_version(mtls_server, options)


def test_missing_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match=r"cannot use CA bundle .*missing.pem"):
        tls_options(ca_bundle=tmp_path / "missing.pem")


def test_mismatched_client_key_names_files_not_the_key(pki: Pki, tmp_path: Path) -> None:
    wrong_key = (pki.ca.parent / "other.key").read_text()
    with pytest.raises(TlsConfigError) as caught:
        tls_options(ca_bundle=pki.ca, client_cert=(pki.client_cert, wrong_key))
    assert str(pki.client_cert) in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value) and wrong_key.splitlines()[1] not in str(caught.value)
    with pytest.raises(TlsConfigError):
        tls_options(client_cert=(pki.client_cert, "not a key"))


def test_secret_reference_needs_a_resolver(pki: Pki) -> None:
    with pytest.raises(ValueError, match="needs resolve_secret"):
        tls_options(client_cert=(pki.client_cert, SecretRef(env="K")))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost/", "http://[::1]:80",
                                 "https://misp.example.org", "https://10.0.0.1"])
def test_urls_allowed(url: str) -> None:
    check_url(url, insecure_http=False)


@pytest.mark.parametrize("url", ["http://misp.example.org", "http://10.0.0.1:8080", "http://localhost.evil.org"])
def test_plain_http_to_the_network_refused_unless_asked(url: str) -> None:
    with pytest.raises(InsecureTransport, match="--insecure-http"):
        check_url(url, insecure_http=False)
    check_url(url, insecure_http=True)


@pytest.mark.parametrize("url", ["ftp://misp.example.org", "misp.example.org", "https://"])
def test_not_an_http_url(url: str) -> None:
    with pytest.raises(InsecureTransport, match="not an http"):
        check_url(url, insecure_http=True)
