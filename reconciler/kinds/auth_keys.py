"""Advanced auth keys, identified by their user and comment. The key itself is never read back from MISP."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconciler import delivery
from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_int, rows, sorted_set, unwrap
from reconciler.model.fields import AsSet
from reconciler.model.secrets import REDACTOR

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


class KeySink(BaseModel):
    """Where a created key goes (reconciler/delivery.py): a file only its owner can read (0600), a file
    encrypted with GnuPG to a recipient of the operator's keyring, or a file encrypted to the key's user's own
    PGP key. Without a sink the key is never shown: MISP keeps only its hash."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    file: str | None = None
    gpg_file: str | None = None
    recipient: str | None = None
    gpg_to_user: str | None = None

    @model_validator(mode="after")
    def _one(self) -> KeySink:
        if sum(path is not None for path in (self.file, self.gpg_file, self.gpg_to_user)) != 1:
            raise ValueError("deliver takes exactly one of file, gpg_file or gpg_to_user")
        if self.gpg_file is not None and not self.recipient:
            raise ValueError("gpg_file needs a recipient (a key in the operator's GnuPG keyring)")
        if self.recipient is not None and self.gpg_file is None:
            raise ValueError("recipient goes with gpg_file")
        return self

    @property
    def path(self) -> Path:
        return Path(next(p for p in (self.file, self.gpg_file, self.gpg_to_user) if p is not None))


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


def deliver(sink: KeySink | None, key: str, *, user_key: str | None = None) -> None:
    """Hand a new key to its sink (checked with check_sink before the key was made). Without one it is
    dropped: never printed, never stored by us. `user_key` is the armored public key of the key's user, for
    a `gpg_to_user` sink."""
    REDACTOR.register(key)
    if sink is None:
        return
    if sink.file is not None:
        delivery.to_private_file(sink.path, key + "\n")
    elif sink.gpg_file is not None:
        assert sink.recipient is not None
        delivery.to_keyring_recipient(sink.path, sink.recipient, key + "\n")
    else:
        assert user_key is not None
        delivery.to_user_key(sink.path, user_key, key + "\n")


def check_sink(sink: KeySink | None, user_key: str | None) -> None:
    """Before the key exists: a key its sink cannot take would be lost."""
    if sink is None:
        return
    delivery.check_writable(sink.path)
    if sink.gpg_to_user is not None and not user_key:
        raise delivery.DeliveryError(f"cannot deliver a new key to {sink.path}: its user has no PGP key in MISP "
                                     "(set the user's pgp_key)")


class AuthKeyAdapter:
    """Keys are matched by user and comment. A created key's clear value (authkey_raw) goes to the sink the
    manifest names and nowhere else; `rotate: N` replaces the key when N changes (create new, delete old)."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get("/auth_keys/index"), "AuthKey")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        key = unwrap(raw, "AuthKey")
        email = str((raw.get("User") or {}).get("email") or names.key_of("users", str(key.get("user_id"))) or "")
        allowed = key.get("allowed_ips")
        if isinstance(allowed, str):
            import json

            allowed = json.loads(allowed) if allowed.startswith("[") else [allowed]
        expires = as_int(key.get("expiration"))
        fields: dict[str, object] = {
            "user": email.casefold(), "comment": str(key.get("comment") or ""),
            "allowed_ips": sorted_set(allowed), "read_only": as_bool(key.get("read_only")),
            "expiration": dt.datetime.fromtimestamp(expires, dt.UTC).date().isoformat() if expires else None,
        }
        natural = f"{fields['user']}/{fields['comment']}"
        return LiveObject(key=natural, id=str(key["id"]), fields=fields, uuid=str(key.get("uuid") or ""), raw=raw)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, AuthKey)
        want: dict[str, object] = {"user": entry.user.casefold(), "comment": entry.comment}
        if "allowed_ips" in entry.model_fields_set:
            want["allowed_ips"] = sorted_set(entry.allowed_ips)
        if "expiration" in entry.model_fields_set:
            want["expiration"] = entry.expiration.isoformat() if entry.expiration else None
        if "read_only" in entry.model_fields_set:
            want["read_only"] = bool(entry.read_only)
        if "rotate" in entry.model_fields_set:
            want["rotate"] = entry.rotate
        return want

    def body(self, entry: AuthKey) -> dict[str, Any]:
        return {"comment": entry.comment, "allowed_ips": list(entry.allowed_ips),
                "expiration": entry.expiration.isoformat() if entry.expiration else 0,
                "read_only": bool(entry.read_only)}

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, AuthKey)
        user_id = names.id_of("users", entry.user.casefold())
        user_key = user_pgp_key(entry.user, names)
        check_sink(entry.deliver, user_key)
        answer = await client.post(f"/auth_keys/add/{user_id}", {"AuthKey": self.body(entry)})
        created = answer.get("AuthKey", {}) if isinstance(answer, dict) else {}
        deliver(entry.deliver, str(created.pop("authkey_raw", "")), user_key=user_key)
        live = self.parse({"AuthKey": created, "User": {"email": entry.user}}, names)
        assert live is not None
        return live

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        assert isinstance(entry, AuthKey)
        if "rotate" in changed:
            fresh = await self.create(client, entry, names)
            await self.delete(client, live, names)
            return fresh
        answer = await client.post(f"/auth_keys/edit/{live.id}", {"AuthKey": self.body(entry)})
        parsed = self.parse({"AuthKey": answer.get("AuthKey", {}), "User": {"email": entry.user}}, names)
        assert parsed is not None
        return parsed

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/auth_keys/delete/{live.id}")


def user_pgp_key(email: str, names: Names) -> str | None:
    """The user's public key as MISP holds it now (users are applied before their keys)."""
    user = names.live("users").get(email.casefold())
    key = user.fields.get("pgp_key") if user is not None else None
    return str(key) if key else None


KIND = Kind(name="auth_keys", model=AuthKey, key=lambda e: f"{e.user.casefold()}/{e.comment}",
            key_fields=("user", "comment"), normalise_key=str.casefold, refs={"user": "users"},
            adapter=AuthKeyAdapter())
