"""Resolve secret references at apply time, and only then. Every value resolved is registered with the
redactor, so no output path can show it afterwards.

Also the redaction edges the CLI installs: a logging filter that scrubs every record, a scrubber for
exception text and tracebacks, and `write_secret_file` for credentials delivered to a private file.
"""

from __future__ import annotations

import logging
import os
import stat
import traceback
from collections.abc import Mapping
from pathlib import Path

from reconciler.model.secrets import REDACTOR, SecretRef

PRIVATE_MODE = 0o600


class SecretError(Exception):
    """A reference that cannot be resolved. The message names the reference, never a value."""


def resolve(ref: SecretRef, *, base_dir: Path, allow_insecure_files: bool = False,
            environ: Mapping[str, str] | None = None, gpg_home: str | Path | None = None,
            passphrase_env: str | None = None) -> str:
    """The value behind a reference. Files are relative to the manifest directory (`base_dir`)."""
    env = os.environ if environ is None else environ
    if ref.env is not None:
        value = env.get(ref.env)
        if value is None:
            raise SecretError(f"secret {ref.describe()}: environment variable {ref.env} is not set")
    elif ref.file is not None:
        value = read_secret_file(base_dir / ref.file, ref, allow_insecure_files)
    else:
        assert ref.gpg is not None  # the model holds exactly one source
        passphrase = passphrase_from(env, passphrase_env, ref)
        value = decrypt_file(base_dir / ref.gpg, ref, gpg_home=gpg_home, passphrase=passphrase)
    if not value:
        # `export MISP_KEY=` or an empty file is a mistake; sending "" would fail later, far from the cause.
        raise SecretError(f"secret {ref.describe()} is empty")
    REDACTOR.register(value)
    return value


def strip_newline(text: str) -> str:
    """Editors and `echo` add one trailing newline; it is never part of the secret. Only one is removed."""
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def read_secret_file(path: Path, ref: SecretRef, allow_insecure: bool) -> str:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretError(f"secret {ref.describe()}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise SecretError(f"secret {ref.describe()}: {path} is not a regular file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and not allow_insecure:
        raise SecretError(f"secret {ref.describe()}: {path} is readable by group or others "
                          f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`, or pass "
                          "--allow-insecure-secret-files if you accept that risk")
    try:
        return strip_newline(path.read_text("utf-8"))
    except OSError as exc:
        raise SecretError(f"secret {ref.describe()}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SecretError(f"secret {ref.describe()}: {path} is not UTF-8 text") from None


def passphrase_from(env: Mapping[str, str], name: str | None, ref: SecretRef) -> str | None:
    """No variable named: gpg-agent holds the key (or it has no passphrase). Named but unset: an error,
    since falling back to the agent would hide the mistake until pinentry fails in CI."""
    if name is None:
        return None
    if name not in env:
        raise SecretError(f"secret {ref.describe()}: passphrase variable {name} is not set")
    REDACTOR.register(env[name])  # a passphrase is a secret too
    return env[name]


def decrypt_file(path: Path, ref: SecretRef, *, gpg_home: str | Path | None,
                 passphrase: str | None) -> str:
    import gnupg

    try:
        gpg = gnupg.GPG(gnupghome=str(gpg_home)) if gpg_home else gnupg.GPG()
    except (OSError, ValueError) as exc:
        raise SecretError(f"secret {ref.describe()}: GnuPG is not usable: {exc}") from None
    try:
        with path.open("rb") as handle:
            result = gpg.decrypt_file(handle, passphrase=passphrase)
    except OSError as exc:
        raise SecretError(f"secret {ref.describe()}: cannot read {path}: {exc.strerror}") from None
    if not result.ok:
        raise SecretError(f"secret {ref.describe()}: GnuPG could not decrypt {path} ({result.status}); "
                          "is the recipient's secret key in your keyring and its passphrase available?")
    return strip_newline(str(result))


def write_secret_file(path: Path, value: str) -> None:
    """Write a credential to a file only its owner can read (0600). An existing file with a wider mode is
    refused rather than tightened: someone may already have read it, and they should know."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    if mode is not None and mode & ~PRIVATE_MODE:
        raise SecretError(f"refusing to write a secret to {path}: it exists with mode {mode:04o}, readable "
                          "by others; remove it (and consider the old content exposed) first")
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CREAT with 0600 from the start: there is no moment where the file is readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), PRIVATE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    REDACTOR.register(value)


class RedactingFilter(logging.Filter):
    """Scrubs every secret the process resolved from a log record: message, arguments and exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        if REDACTOR.is_empty():
            return True
        # Format once, scrub the result: an argument may hold a secret only its formatted form shows.
        record.msg = REDACTOR.scrub(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub_exception_text(record.exc_info[1])
            record.exc_info = None
        if record.stack_info:
            record.stack_info = REDACTOR.scrub(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach the filter to every handler of `logger` (the root logger by default): handler filters run for
    records from child loggers too, logger filters would not. Call it after configuring handlers; it is
    idempotent, so calling it again covers handlers added since."""
    target = logger or logging.getLogger()
    existing = next((f for h in target.handlers for f in h.filters if isinstance(f, RedactingFilter)), None)
    redacting = existing or RedactingFilter()
    for handler in target.handlers:
        if redacting not in handler.filters:
            handler.addFilter(redacting)
    return redacting


def scrub_exception_text(exc: BaseException, *, with_traceback: bool = True) -> str:
    """An exception as the CLI shows it, secrets masked: its traceback (with chained causes) or one line."""
    if with_traceback:
        text = "".join(traceback.format_exception(exc))
    else:
        text = "".join(traceback.format_exception_only(exc)).rstrip("\n")
    return REDACTOR.scrub(text)
