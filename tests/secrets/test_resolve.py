"""Secret references resolve at apply time; errors name the reference, never a value."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import gnupg
import pytest

from reconciler.model.secrets import REDACTOR, SecretRef
from reconciler.secrets import (
    SecretError,
    install_log_redaction,
    resolve,
    scrub_exception_text,
    write_secret_file,
)
from tests.canaries import CANARIES
from tests.secrets.conftest import Keys


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    """A `{file: …}` secret source, declared as one to the end-of-session canary sweep."""
    CANARIES.hold(path)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_env_reference_resolves_and_is_registered(canary: Callable[[str], str]) -> None:
    value = canary("env-key")
    assert resolve(SecretRef(env="MISP_KEY"), base_dir=Path("."), environ={"MISP_KEY": value}) == value
    assert REDACTOR.scrub(f"key={value}") == "key=(secret)"


def test_missing_env_names_the_reference() -> None:
    with pytest.raises(SecretError, match=r"\{env: NOPE\}: environment variable NOPE is not set"):
        resolve(SecretRef(env="NOPE"), base_dir=Path("."), environ={})


def test_empty_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=r"secret \{env: EMPTY\} is empty"):
        resolve(SecretRef(env="EMPTY"), base_dir=tmp_path, environ={"EMPTY": ""})
    private_file(tmp_path / "blank", "\n")
    with pytest.raises(SecretError, match=r"secret \{file: blank\} is empty"):
        resolve(SecretRef(file="blank"), base_dir=tmp_path)


def test_file_relative_to_manifest_dir_strips_one_newline(tmp_path: Path, canary: Callable[[str], str]) -> None:
    value = canary("file-key")
    (tmp_path / "secrets").mkdir()
    private_file(tmp_path / "secrets" / "key", value + "\n\n")
    assert resolve(SecretRef(file="secrets/key"), base_dir=tmp_path) == value + "\n"
    private_file(tmp_path / "crlf", value + "\r\n")
    assert resolve(SecretRef(file="crlf"), base_dir=tmp_path) == value


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_group_or_world_readable_file_refused_with_the_fix(tmp_path: Path, mode: int,
                                                             canary: Callable[[str], str]) -> None:
    value = canary("open-file")
    private_file(tmp_path / "key", value, mode)
    with pytest.raises(SecretError) as caught:
        resolve(SecretRef(file="key"), base_dir=tmp_path)
    assert f"chmod 600 {tmp_path / 'key'}" in str(caught.value)
    assert "--allow-insecure-secret-files" in str(caught.value)
    assert value not in str(caught.value)
    assert resolve(SecretRef(file="key"), base_dir=tmp_path, allow_insecure_files=True) == value


def test_missing_file_and_directory_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=r"\{file: absent\}: cannot read .*absent"):
        resolve(SecretRef(file="absent"), base_dir=tmp_path)
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(SecretError, match="not a regular file"):
        resolve(SecretRef(file="dir"), base_dir=tmp_path)


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "bin").chmod(0o600)
    with pytest.raises(SecretError, match="not UTF-8"):
        resolve(SecretRef(file="bin"), base_dir=tmp_path)


def encrypt_to(keys_home: Path, fingerprint: str, plaintext: str, out: Path) -> None:
    gpg = gnupg.GPG(gnupghome=str(keys_home))
    result = gpg.encrypt(plaintext, fingerprint, always_trust=True, armor=True)
    assert result.ok, result.status
    out.write_text(str(result))


def test_gpg_file_decrypts_with_operator_keyring(tmp_path: Path, keys: Keys, canary: Callable[[str], str]) -> None:
    value = canary("gpg-key")
    encrypt_to(keys.alice.home, keys.alice.fingerprint, value + "\n", tmp_path / "key.asc")
    assert resolve(SecretRef(gpg="key.asc"), base_dir=tmp_path, gpg_home=keys.alice.home) == value
    assert value not in REDACTOR.scrub(value)


def test_gpg_file_for_someone_else_is_refused(tmp_path: Path, keys: Keys, canary: Callable[[str], str]) -> None:
    encrypt_to(keys.alice.home, keys.alice.fingerprint, canary("gpg-other"), tmp_path / "key.asc")
    with pytest.raises(SecretError, match=r"\{gpg: key.asc\}: GnuPG could not decrypt"):
        resolve(SecretRef(gpg="key.asc"), base_dir=tmp_path, gpg_home=keys.bob.home)


def test_gpg_passphrase_variable_must_be_set(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(SecretError, match="passphrase variable GPG_PASS is not set"):
        resolve(SecretRef(gpg="key.asc"), base_dir=tmp_path, gpg_home=keys.alice.home,
                passphrase_env="GPG_PASS", environ={})


def test_gpg_key_with_a_passphrase_from_the_environment(tmp_path: Path, gnupg_home: Path,
                                                       canary: Callable[[str], str]) -> None:
    passphrase, value = canary("gpg-passphrase"), canary("gpg-protected")
    subprocess.run(["gpg", "--homedir", str(gnupg_home), "--batch", "--pinentry-mode", "loopback",
                    "--passphrase", passphrase, "--quick-gen-key", "Op <op@example.org>", "future-default",
                    "default", "1y"], check=True, capture_output=True)
    encrypt_to(gnupg_home, "op@example.org", value, tmp_path / "key.asc")
    ref = SecretRef(gpg="key.asc")
    # The wrong passphrase first: after a success, gpg-agent would have it cached.
    with pytest.raises(SecretError, match="could not decrypt") as caught:
        resolve(ref, base_dir=tmp_path, gpg_home=gnupg_home, passphrase_env="P",
                environ={"P": canary("gpg-wrong-passphrase")})
    assert passphrase not in str(caught.value)
    got = resolve(ref, base_dir=tmp_path, gpg_home=gnupg_home, passphrase_env="P", environ={"P": passphrase})
    assert got == value
    assert REDACTOR.scrub(f"{passphrase} {value}") == "(secret) (secret)"


def test_gpg_missing_file(tmp_path: Path, gnupg_home: Path) -> None:
    with pytest.raises(SecretError, match="cannot read"):
        resolve(SecretRef(gpg="none.asc"), base_dir=tmp_path, gpg_home=gnupg_home)


def test_log_records_are_scrubbed(canary: Callable[[str], str], caplog: pytest.LogCaptureFixture,
                                  tmp_path: Path) -> None:
    value = canary("log-key")
    resolve(SecretRef(env="K"), base_dir=tmp_path, environ={"K": value})
    logger = logging.getLogger("test.redaction")
    handler = logging.FileHandler(tmp_path / "run.log")
    logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)  # idempotent: one filter per handler
        assert len(handler.filters) == 1
        logger.warning("sending key %s", value)
        try:
            raise RuntimeError(f"MISP said no to {value}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = (tmp_path / "run.log").read_text()
    assert "sending key (secret)" in text and "MISP said no to (secret)" in text
    assert value not in text


def test_exception_text_and_chained_causes_are_scrubbed(canary: Callable[[str], str]) -> None:
    value = canary("exc-key")
    REDACTOR.register(value)
    try:
        try:
            raise KeyError(value)
        except KeyError as inner:
            raise ValueError(f"wrapped {value}") from inner
    except ValueError as exc:
        full = scrub_exception_text(exc)
        short = scrub_exception_text(exc, with_traceback=False)
    assert value not in full and "KeyError: '(secret)'" in full and "wrapped (secret)" in full
    assert short == "ValueError: wrapped (secret)"


def test_redactor_masks_json_escaped_and_pem_lines(canary: Callable[[str], str]) -> None:
    quoted = canary("quoted") + '"\\x'
    REDACTOR.register(quoted)
    assert REDACTOR.scrub('{"k": "' + quoted.replace("\\", "\\\\").replace('"', '\\"') + '"}') == '{"k": "(secret)"}'
    line = canary("pem-line")
    REDACTOR.register(f"-----BEGIN KEY-----\n{line}\n-----END KEY-----\n")
    assert REDACTOR.scrub(f"bad line {line}") == "bad line (secret)"
    assert REDACTOR.scrub("-----BEGIN KEY-----") == "-----BEGIN KEY-----"  # short lines stay readable
    assert REDACTOR.scrub_bytes(b"x " + line.encode() + b" \xff") == b"x (secret) \xff"


def test_short_values_are_not_masked() -> None:
    REDACTOR.register("abc")
    assert REDACTOR.scrub("abc def") == "abc def"


def test_write_secret_file_is_private(tmp_path: Path, canary: Callable[[str], str],
                                      secret_file: Callable[[Path], Path]) -> None:
    value = canary("delivered")
    path = secret_file(tmp_path / "out" / "alice.key")  # a delivery sink: holds the key on purpose
    write_secret_file(path, value)
    assert path.read_text() == value and (path.stat().st_mode & 0o777) == 0o600
    write_secret_file(path, value + "2")  # our own private file may be replaced
    assert path.read_text() == value + "2"


def test_write_secret_file_refuses_wider_existing_file(tmp_path: Path, canary: Callable[[str], str]) -> None:
    path = private_file(tmp_path / "shared.key", "old", 0o644)
    with pytest.raises(SecretError, match="mode 0644"):
        write_secret_file(path, canary("not-written"))
    assert path.read_text() == "old"


def test_write_secret_file_does_not_follow_symlinks(tmp_path: Path, canary: Callable[[str], str]) -> None:
    target = private_file(tmp_path / "target", "keep")
    os.symlink(target, tmp_path / "link")
    with pytest.raises(OSError):
        write_secret_file(tmp_path / "link", canary("via-link"))
    assert target.read_text() == "keep"
