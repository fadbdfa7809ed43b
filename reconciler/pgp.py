"""Users' PGP keys (MISP's `gpgkey`): inspect, fetch from a keyserver, encrypt credentials to them.

All GnuPG work happens in a throwaway home, so the operator's keyring is never read or changed here, and
a key is judged on its own merits, not on trust someone happened to give it locally.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gnupg
import httpx

from reconciler.diags import Diagnostic, Severity, SourceRange

EXPIRY_WARNING_DAYS = 30  # long enough to renew a key before MISP stops encrypting e-mails to it
KEYSERVER_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class PgpError(Exception):
    """A key could not be obtained (keyserver down, nothing found). Problems with a key are `problems`."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a plan shows about a key instead of its armor."""

    fingerprint: str | None  # None when the text was not a key at all
    expires: datetime | None  # None: never
    can_encrypt: bool
    uids: tuple[str, ...]
    problems: list[tuple[Severity, str]] = field(default_factory=list)

    def has_errors(self) -> bool:
        return any(severity is Severity.ERROR for severity, _ in self.problems)

    def summary(self) -> str:
        expiry = self.expires.date().isoformat() if self.expires else "never"
        return f"{self.fingerprint} (expires {expiry})"

    def diagnostics(self, *, path: str, subject: SourceRange | None = None) -> list[Diagnostic]:
        """The problems as plan diagnostics: an error stops the plan, a warning is shown with it."""
        return [Diagnostic(severity, "pgp-key" if severity is Severity.ERROR else "pgp-key-warning", message,
                           subject=subject, path=path, hint=PGP_HINT if severity is Severity.ERROR else "")
                for severity, message in self.problems]


SECRET_KEY_PROBLEM = "this is a SECRET key; give the public key only (`gpg --armor --export <e-mail>`)"
PGP_HINT = "set the user's current public key, e.g. the output of `gpg --armor --export <e-mail>`"


@contextmanager
def throwaway_gpg() -> Iterator[gnupg.GPG]:
    """A GPG on a fresh, private home under /tmp (short: gpg-agent's socket path has a length limit), with
    any agent it started stopped and the home removed afterwards."""
    home = tempfile.mkdtemp(prefix="mrgpg-", dir="/tmp")
    try:
        yield gnupg.GPG(gnupghome=home)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def inspect_key(armored: str, *, email: str, now: float | None = None) -> KeyInfo:
    """Parse a public key and list what is wrong with it for a user with this e-mail."""
    now = time.time() if now is None else now
    if "PRIVATE KEY BLOCK" in armored:
        # Never import it, never let it reach MISP: a user's gpgkey is public, and so would this be.
        return KeyInfo(None, None, False, (), [(Severity.ERROR, SECRET_KEY_PROBLEM)])
    with throwaway_gpg() as gpg:
        imported = gpg.import_keys(armored)
        keys = gpg.list_keys() if imported.fingerprints else []
        secret = bool(imported.fingerprints) and bool(gpg.list_keys(True))
    if secret:  # a binary or unusually armored secret key
        return KeyInfo(None, None, False, (), [(Severity.ERROR, SECRET_KEY_PROBLEM)])
    if not keys:
        return KeyInfo(None, None, False, (), [(Severity.ERROR, "not a PGP public key")])
    if len(keys) > 1:
        problem = (Severity.ERROR, f"holds {len(keys)} keys; a user has exactly one")
        return KeyInfo(None, None, False, (), [problem])
    return judge(keys[0], email=email, now=now)


def judge(key: Mapping[str, Any], *, email: str, now: float) -> KeyInfo:
    expires = datetime.fromtimestamp(int(key["expires"]), UTC) if key.get("expires") else None
    uids = tuple(key.get("uids", ()))
    # gpg's colon listing: validity 'e' expired, 'r' revoked; the primary key's capability field holds an
    # uppercase 'E' only when some encryption subkey is usable (not expired or revoked).
    validity = key.get("trust", "")
    can_encrypt = "E" in key.get("cap", "")
    problems: list[tuple[Severity, str]] = []
    if validity == "r":
        problems.append((Severity.ERROR, "the key is revoked"))
    elif validity == "e" or (expires is not None and expires.timestamp() <= now):
        problems.append((Severity.ERROR, f"the key expired on {expires.date() if expires else '?'}"))
    elif not can_encrypt:
        problems.append((Severity.ERROR, "the key has no usable encryption (sub)key; MISP cannot encrypt to it"))
    elif expires is not None and expires.timestamp() - now < EXPIRY_WARNING_DAYS * 86400:
        problems.append((Severity.WARNING, f"the key expires soon, on {expires.date()}"))
    if not any(parseaddr(uid)[1].casefold() == email.casefold() for uid in uids):
        problems.append((Severity.WARNING, f"no user id of the key has the e-mail {email}"))
    return KeyInfo(key["fingerprint"], expires, can_encrypt, uids, problems)


def normalise_armor(value: Any) -> str:
    """PGP armor compared without trailing spaces or CRs: MISP stores what it was given."""
    if not value:  # None or "": most users have no key, no work per row for them
        return ""
    text = str(value).replace("\r\n", "\n").strip()
    return "\n".join(line.rstrip() for line in text.splitlines())


_SUMMARIES: dict[str, str] = {}  # normalised armor → what a plan shows of it


def remember(armored: str, info: KeyInfo) -> None:
    """Keep what the plan-time check learned of a key, so that showing it costs no second inspection."""
    if info.fingerprint is not None:
        _SUMMARIES[normalise_armor(armored)] = shown(info)


def describe_armor(armored: str) -> str:
    """How a plan shows a key: fingerprint and expiry, never the armor (a key read from MISP, shown as the
    'before' of a change, is inspected here once)."""
    normalised = normalise_armor(armored)
    if normalised not in _SUMMARIES:
        _SUMMARIES[normalised] = shown(inspect_key(normalised, email=""))
    return _SUMMARIES[normalised]


def shown(info: KeyInfo) -> str:
    return f"(PGP key {info.summary()})" if info.fingerprint else "(not a usable PGP key)"


DEFAULT_KEYSERVER = "hkps://keys.openpgp.org"  # verifies e-mail addresses before publishing a uid
HKP_PORT = 11371  # hkp:// without a port means this one, not 80


def keyserver_base(url: str) -> str:
    """hkps://host → https://host; hkp://host → http://host:11371; http(s):// stays as given."""
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme == "hkps":
        return urlunsplit(("https", parts.netloc, parts.path, "", ""))
    if parts.scheme == "hkp":
        netloc = parts.netloc if parts.port else f"{parts.netloc}:{HKP_PORT}"
        return urlunsplit(("http", netloc, parts.path, "", ""))
    if parts.scheme in ("http", "https") and parts.netloc:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    raise PgpError(f"not a keyserver URL: {url!r} (expected hkps://, hkp://, https:// or http://)")


def fetch_from_keyserver(email: str, *, keyserver_url: str = DEFAULT_KEYSERVER,
                         client: httpx.Client | None = None) -> str:
    """The armored key a keyserver holds for an e-mail, over HKP or HKPS (httpx; pass `client` to set TLS
    options or a proxy)."""
    url = keyserver_base(keyserver_url) + "/pks/lookup"
    params = {"op": "get", "options": "mr", "search": email}
    own = client is None
    http = client or httpx.Client(timeout=KEYSERVER_TIMEOUT, follow_redirects=True)
    try:
        response = http.get(url, params=params)
    except httpx.HTTPError as exc:
        raise PgpError(f"keyserver {keyserver_url} unreachable for {email}: {exc}") from None
    finally:
        if own:
            http.close()
    if response.status_code == 404:
        raise PgpError(f"keyserver {keyserver_url} has no key for {email}")
    if response.status_code != 200:
        raise PgpError(f"keyserver {keyserver_url} answered {response.status_code} for {email}")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in response.text:
        raise PgpError(f"keyserver {keyserver_url} answered for {email}, but not with a PGP public key")
    return response.text


def load_key_text(source: object, *, email: str, base_dir: Path, keyserver_url: str = DEFAULT_KEYSERVER,
                  client: httpx.Client | None = None) -> str:
    """A `pgp_key:` value as armored text: inline armor, {file: path} (relative to the manifest
    directory) or {keyserver: true} (fetched by the user's e-mail). `source` is the manifest's value: a
    string, a mapping, or the users kind's PgpFile / PgpKeyserver model (read by attribute, so this module
    need not import kinds)."""
    if isinstance(source, str):
        return source
    fields = source if isinstance(source, Mapping) else {
        name: getattr(source, name) for name in ("file", "keyserver") if getattr(source, name, None) is not None}
    if "file" in fields:
        path = base_dir / str(fields["file"])
        try:
            return path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PgpError(f"cannot read PGP key file {path}: {exc}") from None
    if fields.get("keyserver") is True:
        return fetch_from_keyserver(email, keyserver_url=keyserver_url, client=client)
    raise ValueError(f"not a pgp_key source: {type(source).__name__} {sorted(fields)}")


def encrypt_to_key(armored_pubkey: str, plaintext: str) -> str:
    """Encrypt for the holder of this key only (credential delivery). The key is trusted for this one
    message because the manifest names it for this user; inspect_key has judged it before."""
    with throwaway_gpg() as gpg:
        imported = gpg.import_keys(armored_pubkey)
        if len(imported.fingerprints) == 0:
            raise PgpError("cannot encrypt: not a PGP public key")
        result = gpg.encrypt(plaintext, imported.fingerprints[0], always_trust=True, armor=True)
    if not result.ok:
        raise PgpError(f"cannot encrypt to {imported.fingerprints[0]}: {result.status}")
    return str(result)
