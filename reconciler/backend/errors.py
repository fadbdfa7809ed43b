"""Errors from talking to MISP.

* MispError
  + Unreachable      connect, TLS or timeout: nothing reached MISP                   (exit 3)
  + Refused          401/403 on authentication: key missing, wrong, or not allowed   (exit 3)
  + Rejected         a 4xx/5xx answer carrying MISP's message
  + OutcomeUnknown   a write whose answer was lost: re-read, never resend blindly
"""

from __future__ import annotations

from typing import Any


class MispError(Exception):
    """Base of every failure to get a usable answer from MISP. Messages never contain secrets."""


class Unreachable(MispError):
    pass


class Refused(MispError):
    pass


class OutcomeUnknown(MispError):
    """The request may or may not have been carried out by MISP."""


class Rejected(MispError):
    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"MISP answered {status} to {method} {path}: {misp_message(body)}")

    @property
    def errors(self) -> Any:
        return self.body.get("errors") if isinstance(self.body, dict) else None


def misp_message(body: Any) -> str:
    """The human part of a MISP error answer: message, plus validation errors when present."""
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("name") or "")
        errors = body.get("errors")
        if errors:
            detail = errors if isinstance(errors, str) else "; ".join(
                f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                for field, msgs in errors.items()) if isinstance(errors, dict) else str(errors)
            return f"{message} ({detail})" if message else detail
        return message or str(body)[:300]
    return str(body)[:300]
