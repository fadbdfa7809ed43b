"""Secret references: a manifest names where a secret lives, never the secret itself.

A resolved value is registered with the process-wide redactor, which every output path runs text through.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SecretRef(BaseModel):
    """Exactly one of {env: NAME}, {file: path}, {gpg: path.asc}."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    env: Annotated[str | None, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = None
    file: str | None = None
    gpg: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [k for k in ("env", "file", "gpg") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a secret reference takes exactly one of env, file or gpg")
        return self

    def describe(self) -> str:
        """How the reference is shown to people: {env: MISP_KEY}. Never the value."""
        for name in ("env", "file", "gpg"):
            value = getattr(self, name)
            if value is not None:
                return f"{{{name}: {value}}}"
        raise AssertionError("unreachable: validated to hold one source")

    def __repr__(self) -> str:
        return f"SecretRef({self.describe()})"

    __str__ = __repr__


class Redactor:
    """Remembers every secret value this process resolved and scrubs them from text."""

    MASK = "(secret)"
    MIN_LENGTH = 4  # shorter values would scrub ordinary words; refuse to treat them as maskable

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    LINE_MIN_LENGTH = 16  # a line of a multi-line secret (a PEM key) is masked alone only if it is this long

    def register(self, value: str) -> None:
        if len(value) < self.MIN_LENGTH:
            return
        forms = self.forms(value)
        with self._lock:
            if not forms <= self._values:
                self._values |= forms
                ordered = sorted(self._values, key=len, reverse=True)  # longest first: no partial masks
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def forms(self, value: str) -> set[str]:
        """The value as it may appear in output: as is, JSON-escaped (a quote or backslash in it), and for a
        multi-line secret each long line, since a traceback or log may show one line of it. PEM/armor
        boundary lines (-----BEGIN ...-----) are public text and stay readable."""
        forms = {value, json.dumps(value)[1:-1]}
        if "\n" in value:
            lines = (line.strip() for line in value.splitlines())
            forms |= {line for line in lines if len(line) >= self.LINE_MIN_LENGTH and not line.startswith("-----")}
        return forms

    def is_empty(self) -> bool:
        return self._pattern is None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(self.MASK, text) if pattern else text

    def scrub_bytes(self, data: bytes) -> bytes:
        """Scrub UTF-8 bytes (a plan file, a log file); bytes that are not UTF-8 pass through escaped back."""
        if self._pattern is None:
            return data
        return self.scrub(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def scrub_obj(self, value: Any) -> Any:
        """Scrub strings inside nested JSON-like data."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_obj(v) for v in value]
        return value


REDACTOR = Redactor()
