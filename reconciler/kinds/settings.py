"""Server settings, by name, checked against MISP 2.5.1's catalogue of 378 settings (package data).

`settings:` is written as a mapping `MISP.live: true`; each pair becomes one Setting entry.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from pydantic import model_validator

from reconciler.kinds._kind import Entry, Kind
from reconciler.model.secrets import SecretRef


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
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()
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


KIND = Kind(name="settings", model=Setting, key=lambda e: e.name, singleton_map=True)
