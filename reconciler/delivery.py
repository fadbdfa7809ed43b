"""Credentials the tool creates — a new auth key, a user's initial password and first API key — go to the one
place the manifest names, and nowhere else: never printed, never logged, never stored by us.

Three sinks: a file only its owner can read (0600), a file encrypted with GnuPG to a recipient of the
operator's keyring, or a file encrypted to the user's own PGP key (`gpg_to_user`), so that only the person
the credentials are for can read them. Output paths are relative to the working directory, like `plan -o`.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

from reconciler.model.secrets import REDACTOR
from reconciler.pgp import PgpError, encrypt_to_key
from reconciler.secrets import write_secret_file


class DeliveryError(OSError):
    """A credential could not be handed to its sink (an output file). The message names the sink, never the
    value. An OSError, so the engine fails that one object and goes on, as for any other file problem."""


# MISP's default Security.password_policy_complexity accepts any password of 16 characters or more; mixing
# the classes as well keeps a stricter local policy (upper, lower, digit) satisfied too.
PASSWORD_LENGTH = 24
PASSWORD_ALPHABET = string.ascii_letters + string.digits


def new_password() -> str:
    """A random initial password (143 bits), registered with the redactor before anyone can print it."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if (any(c.islower() for c in password) and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password)):
            REDACTOR.register(password)
            return password


def check_writable(path: Path) -> None:
    """Before the write that creates a credential: its sink must be able to take it, or it would be lost."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise DeliveryError(f"cannot write the credentials to {path}: {directory} is not a writable directory")
    if path.is_dir() or (path.exists() and not os.access(path, os.W_OK)):
        raise DeliveryError(f"cannot write the credentials to {path}: not a writable file")


def to_private_file(path: Path, text: str) -> None:
    try:
        write_secret_file(path, text)
    except OSError as exc:
        raise DeliveryError(f"cannot write the credentials to {path}: {exc.strerror}") from None


def to_keyring_recipient(path: Path, recipient: str, text: str) -> None:
    """Encrypted to a key of the operator's own GnuPG keyring (gpg-agent, GNUPGHOME)."""
    import gnupg

    encrypted = gnupg.GPG().encrypt(text, recipient, always_trust=True)
    if not encrypted.ok:
        raise DeliveryError(f"GnuPG could not encrypt the credentials to {recipient}: {encrypted.status}")
    write_file(path, str(encrypted))


def to_user_key(path: Path, armored_key: str, text: str) -> None:
    """Encrypted to the user's own public key: only they can read what was created for them."""
    try:
        encrypted = encrypt_to_key(armored_key, text)
    except PgpError as exc:
        raise DeliveryError(f"cannot deliver the credentials to {path}: {exc}") from None
    write_file(path, encrypted)


def write_file(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")
    except OSError as exc:
        raise DeliveryError(f"cannot write the credentials to {path}: {exc.strerror}") from None
