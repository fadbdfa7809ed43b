"""Users' PGP keys: real keys generated in the session, judged as a plan would judge them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import gnupg
import httpx
import pytest

from reconciler.backend.tls import tls_options
from reconciler.diags import Diagnostic, Severity, SourceRange
from reconciler.pgp import (
    KeyInfo,
    PgpError,
    encrypt_to_key,
    fetch_from_keyserver,
    inspect_key,
    keyserver_base,
    load_key_text,
)
from tests.secrets.conftest import Keys, Pki


def problems(info: KeyInfo) -> list[tuple[Severity, str]]:
    return info.problems


def test_valid_key(keys: Keys) -> None:
    info = inspect_key(keys.alice.public, email="Alice@Example.org")
    assert info.fingerprint == keys.alice.fingerprint
    assert info.can_encrypt and info.uids == ("Alice <alice@example.org>",)
    assert info.expires is not None and info.expires.timestamp() > time.time() + 300 * 86400
    assert problems(info) == [] and not info.has_errors()
    assert info.summary().startswith(f"{keys.alice.fingerprint} (expires 20")


def test_expired_key_is_an_error(keys: Keys) -> None:
    info = inspect_key(keys.expired.public, email="old@example.org")
    assert problems(info) == [(Severity.ERROR, "the key expired on 2020-01-02")]


def test_revoked_key_is_an_error(keys: Keys) -> None:
    info = inspect_key(keys.revoked.public, email="gone@example.org")
    assert problems(info) == [(Severity.ERROR, "the key is revoked")]


def test_sign_only_key_is_an_error(keys: Keys) -> None:
    info = inspect_key(keys.sign_only.public, email="sig@example.org")
    assert not info.can_encrypt
    assert problems(info) == [(Severity.ERROR,
                               "the key has no usable encryption (sub)key; MISP cannot encrypt to it")]


def test_problems_become_plan_diagnostics(keys: Keys) -> None:
    where = SourceRange(Path("users.yaml"), 3, 14)
    path = 'users["old@example.org"].pgp_key'
    expired = inspect_key(keys.expired.public, email="someone@example.org").diagnostics(path=path, subject=where)
    assert [(d.severity, d.code, d.message) for d in expired] == [
        (Severity.ERROR, "pgp-key", "the key expired on 2020-01-02"),
        (Severity.WARNING, "pgp-key-warning", "no user id of the key has the e-mail someone@example.org")]
    assert expired[0].render().startswith(f"users.yaml:3:14: {path}: the key expired on 2020-01-02 (set the")
    assert inspect_key(keys.alice.public, email="alice@example.org").diagnostics(path=path) == list[Diagnostic]()


def test_wrong_uid_is_a_warning(keys: Keys) -> None:
    info = inspect_key(keys.alice.public, email="mallory@example.org")
    assert problems(info) == [(Severity.WARNING, "no user id of the key has the e-mail mallory@example.org")]
    assert not info.has_errors()


def test_key_expiring_within_30_days_is_a_warning(keys: Keys) -> None:
    info = inspect_key(keys.soon.public, email="soon@example.org")
    assert info.expires is not None
    assert problems(info) == [(Severity.WARNING, f"the key expires soon, on {info.expires.date()}")]
    later = inspect_key(keys.soon.public, email="soon@example.org", now=time.time() - 60 * 86400)
    assert problems(later) == []


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP "
                                  "PUBLIC KEY BLOCK-----\n"])
def test_not_a_key_is_an_error(text: str) -> None:
    info = inspect_key(text, email="a@example.org")
    assert info.fingerprint is None and problems(info) == [(Severity.ERROR, "not a PGP public key")]


def test_secret_key_is_refused_and_never_shown(keys: Keys) -> None:
    exported = subprocess.run(["gpg", "--homedir", str(keys.alice.home), "--batch", "--pinentry-mode", "loopback",
                               "--passphrase", "", "--armor", "--export-secret-keys", keys.alice.fingerprint],
                              capture_output=True, check=True).stdout.decode()
    assert "PRIVATE KEY BLOCK" in exported
    for text in (exported, exported.replace("PRIVATE KEY BLOCK", "PUBLIC KEY BLOCK")):
        info = inspect_key(text, email="alice@example.org")
        assert info.fingerprint is None and info.has_errors()
        assert info.problems[0][1].startswith("this is a SECRET key")


def test_two_keys_in_one_armor_is_an_error(keys: Keys) -> None:
    info = inspect_key(keys.alice.public + keys.bob.public, email="alice@example.org")
    assert problems(info) == [(Severity.ERROR, "holds 2 keys; a user has exactly one")]


def test_encrypt_to_key_only_the_holder_can_read(keys: Keys, canary: Callable[[str], str]) -> None:
    value = canary("delivered-password")
    message = encrypt_to_key(keys.alice.public, value)
    assert message.startswith("-----BEGIN PGP MESSAGE-----") and value not in message
    assert str(gnupg.GPG(gnupghome=str(keys.alice.home)).decrypt(message)) == value
    assert not gnupg.GPG(gnupghome=str(keys.bob.home)).decrypt(message).ok


@pytest.mark.parametrize("which", ["expired", "revoked", "sign_only"])
def test_encrypt_to_an_unusable_key_fails(keys: Keys, which: str, canary: Callable[[str], str]) -> None:
    with pytest.raises(PgpError, match="cannot encrypt to") as caught:
        encrypt_to_key(getattr(keys, which).public, canary("undeliverable"))
    assert canary("undeliverable") not in str(caught.value)


def test_encrypt_to_non_key_fails() -> None:
    with pytest.raises(PgpError, match="not a PGP public key"):
        encrypt_to_key("nope", "x" * 10)


def test_keyserver_fetch_by_email(hkp: tuple[str, list[dict[str, list[str]]]], keys: Keys) -> None:
    url, seen = hkp
    armored = fetch_from_keyserver("alice@example.org", keyserver_url=url + "/")
    assert seen == [{"op": ["get"], "options": ["mr"], "search": ["alice@example.org"]}]
    assert inspect_key(armored, email="alice@example.org").fingerprint == keys.alice.fingerprint


def test_keyserver_over_hkps_verifies_the_server(hkps: tuple[str, list[dict[str, list[str]]]], keys: Keys,
                                                 pki: Pki) -> None:
    with httpx.Client(**tls_options(ca_bundle=pki.ca)) as client:
        assert fetch_from_keyserver("alice@example.org", keyserver_url=hkps[0], client=client) == keys.alice.public
    with pytest.raises(PgpError, match="unreachable"):  # default trust store: our test CA is unknown
        fetch_from_keyserver("alice@example.org", keyserver_url=hkps[0])


def test_keyserver_with_a_given_client(hkp: tuple[str, list[dict[str, list[str]]]], keys: Keys) -> None:
    with httpx.Client() as client:
        armored = load_key_text({"keyserver": True}, email="alice@example.org", base_dir=Path("."),
                                keyserver_url=hkp[0], client=client)
    assert armored == keys.alice.public


def test_keyserver_without_the_key(hkp: tuple[str, list[dict[str, list[str]]]]) -> None:
    with pytest.raises(PgpError, match=r"has no key for nobody@example\.org"):
        fetch_from_keyserver("nobody@example.org", keyserver_url=hkp[0])


def test_keyserver_answering_something_else(hkp: tuple[str, list[dict[str, list[str]]]]) -> None:
    with pytest.raises(PgpError, match="not with a PGP public key"):
        fetch_from_keyserver("broken@example.org", keyserver_url=hkp[0])


def test_keyserver_unreachable() -> None:
    with pytest.raises(PgpError, match="unreachable"):
        fetch_from_keyserver("a@example.org", keyserver_url="http://127.0.0.1:9")


def test_key_sources_inline_and_file(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "alice.asc").write_text(keys.alice.public)
    assert load_key_text(keys.alice.public, email="a@x", base_dir=tmp_path, keyserver_url="") == keys.alice.public
    assert load_key_text({"file": "keys/alice.asc"}, email="a@x", base_dir=tmp_path,
                         keyserver_url="") == keys.alice.public
    with pytest.raises(PgpError, match="cannot read PGP key file"):
        load_key_text({"file": "keys/none.asc"}, email="a@x", base_dir=tmp_path, keyserver_url="")


def test_key_sources_from_the_users_models(tmp_path: Path, keys: Keys,
                                           hkp: tuple[str, list[dict[str, list[str]]]]) -> None:
    from reconciler.kinds.users import PgpFile, PgpKeyserver

    (tmp_path / "alice.asc").write_text(keys.alice.public)
    assert load_key_text(PgpFile(file="alice.asc"), email="a@x", base_dir=tmp_path) == keys.alice.public
    fetched = load_key_text(PgpKeyserver(keyserver=True), email="alice@example.org", base_dir=tmp_path,
                            keyserver_url=hkp[0])
    assert fetched == keys.alice.public
    with pytest.raises(ValueError, match="not a pgp_key source"):
        load_key_text({"keyserver": False}, email="a@x", base_dir=tmp_path)


@pytest.mark.parametrize(("url", "base"), [
    ("hkps://keys.openpgp.org", "https://keys.openpgp.org"),
    ("hkps://keys.openpgp.org/", "https://keys.openpgp.org"),
    ("hkp://keyserver.example.org", "http://keyserver.example.org:11371"),
    ("hkp://keyserver.example.org:80", "http://keyserver.example.org:80"),
    ("https://keys.example.org/sub", "https://keys.example.org/sub"),
])
def test_keyserver_url_schemes(url: str, base: str) -> None:
    assert keyserver_base(url) == base


@pytest.mark.parametrize("url", ["ldap://keys.example.org", "keys.example.org", ""])
def test_bad_keyserver_url(url: str) -> None:
    with pytest.raises(PgpError, match="not a keyserver URL"):
        fetch_from_keyserver("a@example.org", keyserver_url=url)
