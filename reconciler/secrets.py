"""Resolve secret references at apply time, and only then. Every value resolved is registered with the
redactor, so no output path can show it afterwards."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from reconciler.model.secrets import REDACTOR, SecretRef


class SecretError(Exception):
    """A reference that cannot be resolved. The message names the reference, never a value."""


def resolve(ref: SecretRef, *, base_dir: Path, allow_insecure_files: bool = False,
            environ: Mapping[str, str] | None = None, gpg_home: str | None = None,
            passphrase_env: str | None = None) -> str:
    if ref.env is not None:
        value = (os.environ if environ is None else environ).get(ref.env)
        if value is None:
            raise SecretError(f"secret {ref.describe()}: environment variable {ref.env} is not set")
    elif ref.file is not None:
        value = read_secret_file(base_dir / ref.file, ref, allow_insecure_files)
    else:
        assert ref.gpg is not None
        value = decrypt_file(base_dir / ref.gpg, ref, gpg_home, passphrase_env, environ)
    REDACTOR.register(value)
    return value


def read_secret_file(path: Path, ref: SecretRef, allow_insecure: bool) -> str:
    try:
        mode = path.stat().st_mode
    except OSError:
        raise SecretError(f"secret {ref.describe()}: cannot read {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and not allow_insecure:
        raise SecretError(f"secret {ref.describe()}: {path} is readable by group or others; run "
                          f"`chmod 600 {path}` (or pass --allow-insecure-secret-files)")
    text = path.read_text("utf-8")
    return text[:-1] if text.endswith("\n") else text


def decrypt_file(path: Path, ref: SecretRef, gpg_home: str | None, passphrase_env: str | None,
                 environ: Mapping[str, str] | None) -> str:
    import gnupg

    env = os.environ if environ is None else environ
    gpg = gnupg.GPG(gnupghome=gpg_home) if gpg_home else gnupg.GPG()
    passphrase = env.get(passphrase_env) if passphrase_env else None
    try:
        with path.open("rb") as handle:
            result = gpg.decrypt_file(handle, passphrase=passphrase)
    except OSError:
        raise SecretError(f"secret {ref.describe()}: cannot read {path}") from None
    if not result.ok:
        raise SecretError(f"secret {ref.describe()}: GnuPG could not decrypt {path} ({result.status})")
    text = str(result)
    return text[:-1] if text.endswith("\n") else text
