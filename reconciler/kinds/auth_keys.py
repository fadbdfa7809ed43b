"""Advanced auth keys, identified by their user and comment. The key itself is never read back from MISP."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reconciler.kinds._kind import Entry, Kind
from reconciler.model.fields import AsSet


class KeySink(BaseModel):
    """Where a created key is delivered: a GPG-encrypted file, a 0600 file, or the fleet hand-over."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    gpg_to: str | None = None
    file: str | None = None
    fleet: str | None = None


class AuthKey(Entry):
    WRITE_ONLY: ClassVar[frozenset[str]] = frozenset({"rotate"})
    CREATE_ONLY: ClassVar[frozenset[str]] = frozenset({"deliver"})

    user: Annotated[str, Field(min_length=1)]
    comment: str = ""
    allowed_ips: Annotated[list[str], AsSet()] = []
    expiration: dt.date | None = None
    read_only: bool | None = None
    rotate: Annotated[int | None, Field(ge=0)] = None
    deliver: KeySink | None = None

    @field_validator("allowed_ips")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"expected an IP address or CIDR range, got {value!r}") from None
        return values

    @field_validator("expiration")
    @classmethod
    def _future(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value <= dt.date.today():
            raise ValueError(f"expiration must be in the future, got {value.isoformat()}")
        return value


KIND = Kind(name="auth_keys", model=AuthKey, key=lambda e: f"{e.user.casefold()}/{e.comment}",
            key_fields=("user", "comment"), normalise_key=str.casefold, refs={"user": "users"})
