"""PGP keys for the secrets tests: real keys generated once per session in throwaway GnuPG homes; a CA
with certificates for local TLS servers; a small HKP keyserver on 127.0.0.1.

ed25519/cv25519 keys take milliseconds; an expired key is made by generating it with a faked clock in
2020 with a one-day lifetime (gpg refuses an expiry date in the past).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass(frozen=True)
class GpgKey:
    fingerprint: str
    public: str  # armored public key
    home: Path  # the GnuPG home holding its secret key (no passphrase)


class KeyFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def gpg(self, home: Path, *args: str, data: bytes | None = None) -> str:
        done = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", "--passphrase", "", *args],
                              input=data, capture_output=True, check=True)
        return done.stdout.decode()

    def make(self, uid: str, *, algo: str = "future-default", usage: str = "default", expire: str = "1y",
             faked_time: str | None = None) -> GpgKey:
        self.count += 1
        home = self.root / f"k{self.count}"
        home.mkdir(mode=0o700)
        clock = ["--faked-system-time", faked_time] if faked_time else []
        self.gpg(home, *clock, "--quick-gen-key", uid, algo, usage, expire)
        fingerprint = self.fingerprints(home)[0]
        return GpgKey(fingerprint, self.gpg(home, "--armor", "--export", fingerprint), home)

    def fingerprints(self, home: Path) -> list[str]:
        listing = self.gpg(home, "--with-colons", "--list-keys")
        rows = [line.split(":") for line in listing.splitlines()]
        # A 'fpr' row follows each pub/sub row; keep those that follow a 'pub'.
        return [rows[i + 1][9] for i, row in enumerate(rows) if row[0] == "pub"]

    def revoked(self, uid: str) -> GpgKey:
        key = self.make(uid)
        # gpg writes a revocation certificate at generation, with a ':' guarding its armor line against a
        # careless import; removing the guard and importing it revokes the key.
        cert = (key.home / "openpgp-revocs.d" / f"{key.fingerprint}.rev").read_text().replace(":-----", "-----")
        self.gpg(key.home, "--import", data=cert.encode())
        return GpgKey(key.fingerprint, self.gpg(key.home, "--armor", "--export", key.fingerprint), key.home)


@dataclass(frozen=True)
class Keys:
    alice: GpgKey  # valid, encrypts, uid alice@example.org
    bob: GpgKey  # valid, another approver
    expired: GpgKey
    revoked: GpgKey
    sign_only: GpgKey
    soon: GpgKey  # expires in 10 days


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    root = Path(tempfile.mkdtemp(prefix="gk-", dir="/tmp"))  # short: gpg-agent socket paths are limited
    factory = KeyFactory(root)
    try:
        yield Keys(
            alice=factory.make("Alice <alice@example.org>"),
            bob=factory.make("Bob <bob@example.org>"),
            expired=factory.make("Old <old@example.org>", expire="1d", faked_time="20200101T000000!"),
            revoked=factory.revoked("Gone <gone@example.org>"),
            sign_only=factory.make("Sig <sig@example.org>", algo="ed25519", usage="sign"),
            soon=factory.make("Soon <soon@example.org>", expire="10d"),
        )
    finally:
        for home in root.iterdir():
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# -- a CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI) -----------------
@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(cwd: Path, name: str) -> None:
    openssl(cwd, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")


def make_leaf(cwd: Path, name: str, extensions: str) -> None:
    (cwd / f"{name}.ext").write_text(extensions)
    openssl(cwd, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    openssl(cwd, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    cwd = tmp_path_factory.mktemp("pki")
    make_ca(cwd, "ca")
    make_ca(cwd, "other")
    make_leaf(cwd, "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    make_leaf(cwd, "client", "extendedKeyUsage=clientAuth\n")
    for key in cwd.glob("*.key"):
        key.chmod(0o600)
    return Pki(cwd / "ca.pem", cwd / "other.pem", cwd / "server.pem", cwd / "server.key", cwd / "client.pem",
               cwd / "client.key")


# -- a small HKP keyserver on 127.0.0.1 ----------------------------------------------------------------
def serve_hkp(keys: Keys, tls: ssl.SSLContext | None) -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    directory = {"alice@example.org": keys.alice.public}
    seen: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            seen.append(query)
            key = directory.get(query.get("search", [""])[0].casefold())
            if parts.path == "/pks/lookup" and query.get("search") == ["broken@example.org"]:
                self.send_response(200)
                body = b"<html>maintenance</html>"
            elif parts.path != "/pks/lookup" or key is None:
                self.send_response(404)
                body = b"No results found"
            else:
                self.send_response(200)
                body = key.encode()
            self.send_header("Content-Type", "application/pgp-keys")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'hkps' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hkp(keys: Keys) -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    yield from serve_hkp(keys, None)


@pytest.fixture
def hkps(keys: Keys, pki: Pki) -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    yield from serve_hkp(keys, context)
