"""Server settings, by name, checked against MISP 2.5.1's catalogue of 378 settings (package data).

`settings:` is written as a mapping `MISP.live: true`; each pair becomes one Setting entry.
"""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import model_validator

from reconciler.backend.errors import MispError, Rejected
from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.model.secrets import SecretRef

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """MISP's settings by name (reconciler/data/server-settings.json, AGPL-3.0: see data/NOTICE.md)."""
    text = resources.files("reconciler").joinpath("data/server-settings.json").read_text("utf-8")
    return {item["name"]: item for item in json.loads(text)}


def coerce(value: Any, spec: dict[str, Any]) -> Any:
    """The value in MISP's type when the match is lossless (`1` for options "0".."3"); ValueError otherwise."""
    kind = spec["type"]
    options = spec.get("options")
    if options:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if text not in options:
            close = difflib.get_close_matches(text, list(options), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"expected one of {', '.join(repr(o) for o in options)}, got {value!r}{hint}")
        return int(text) if kind == "numeric" and text.lstrip("-").isdigit() else text
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return value
    if isinstance(value, bool | dict | list):
        raise ValueError(f"expected text, got {value!r}")
    return str(value) if value is not None else value


class Setting(Entry):
    # A redacted setting (a password) is compared through `secret`: its reference, never its value, since
    # MISP never returns it (getSetting answers 403).
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"secret"})
    WRITE_ONLY: ClassVar[frozenset[str]] = frozenset({"secret"})
    name: str
    value: Any = None

    @model_validator(mode="after")
    def _check(self) -> Setting:
        spec = catalogue().get(self.name)
        if spec is None:
            close = difflib.get_close_matches(self.name, list(catalogue()), n=1)
            raise ValueError(f"unknown setting {self.name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if spec.get("cli_only"):
            raise ValueError(f"{self.name} can only be set on the MISP host: "
                             f"sudo -u www-data /var/www/MISP/app/Console/cake Admin setSetting {self.name} <value>")
        if spec.get("redacted"):
            if not isinstance(self.value, SecretRef):
                ref = SecretRef.model_validate(self.value) if isinstance(self.value, dict) else None
                if ref is None:
                    raise ValueError(f"{self.name} is a secret: write a reference such as {{env: NAME}}, "
                                     "never the value")
                object.__setattr__(self, "value", ref)
            return self
        object.__setattr__(self, "value", coerce(self.value, spec))
        return self

    def warnings(self) -> list[str]:
        spec = catalogue().get(self.name, {})
        return [f"{self.name} is deprecated in MISP 2.5"] if spec.get("level") == 3 else []

    @property
    def is_secret(self) -> bool:
        return bool(catalogue().get(self.name, {}).get("redacted"))


def canonical(name: str, value: Any) -> Any:
    """A setting's value as MISP types it in finalSettings, so equal values compare equal."""
    spec = catalogue().get(name, {})
    if spec.get("options"):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if spec.get("type") == "boolean":
        return value if isinstance(value, bool) else str(value).strip() not in ("", "0", "false")
    if spec.get("type") == "numeric":
        try:
            return int(value)
        except (TypeError, ValueError):
            return value
    return "" if value is None else str(value)


class SettingAdapter:
    """One request reads every setting (/servers/serverSettings, its finalSettings). Writes go through
    serverSettingsEdit — MISP runs side effects there, so never through config files — with `force` only
    when MISP's own test refuses the value (e.g. MISP.disable_emailing: true), then the value is read back:
    MISP casts silently ("false" → true for booleans) and we report any value stored differently."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        answer = await client.get("/servers/serverSettings")
        rows: list[Mapping[str, Any]] = list(answer.get("finalSettings", []) if isinstance(answer, dict) else [])
        # Redacted settings are never listed: they exist all the same, with a value nobody can read.
        rows += [{"setting": name, "redacted": True} for name in declared if catalogue().get(name, {}).get("redacted")]
        return rows

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        name = str(raw.get("setting", ""))
        if name not in catalogue():
            return None  # module settings MISP adds dynamically are not in the 2.5.1 catalogue
        fields: dict[str, object] = {} if raw.get("redacted") else {"value": canonical(name, raw.get("value"))}
        return LiveObject(key=name, id=name, fields=fields, raw=raw)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Setting)
        if isinstance(entry.value, SecretRef):
            return {"secret": entry.value.describe()}
        return {"value": canonical(entry.name, entry.value)}

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, Setting)
        return await self.write(client, entry, names)

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        assert isinstance(entry, Setting)
        return await self.write(client, entry, names)

    async def write(self, client: MispClient, entry: Setting, names: Names) -> LiveObject:
        value = names.secret(entry.value) if isinstance(entry.value, SecretRef) else entry.value
        path = f"/servers/serverSettingsEdit/{entry.name}"
        try:
            await client.post(path, {"value": value})
        except Rejected as exc:
            if exc.status != 403:
                raise
            await client.post(path, {"value": value, "force": True})  # refused by MISP's test: insist
        if isinstance(entry.value, SecretRef):
            return LiveObject(key=entry.name, id=entry.name, fields={})
        stored = await client.get(f"/servers/getSetting/{entry.name}")
        live = self.parse({"setting": entry.name, "value": stored.get("value")}, names)
        assert live is not None
        if live.fields["value"] != canonical(entry.name, entry.value):
            raise MispError(f"MISP stored {live.fields['value']!r} for {entry.name} instead of "
                            f"{canonical(entry.name, entry.value)!r}")
        return live

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        raise AssertionError("settings are never deleted")


KIND = Kind(name="settings", model=Setting, key=lambda e: e.name, singleton_map=True, deletable=False,
            adapter=SettingAdapter())
