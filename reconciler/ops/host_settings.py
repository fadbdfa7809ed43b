"""Settings MISP accepts only on its host (`cli_only` in the catalogue): one shell script of
`cake Admin setSetting` commands, each value checked against the catalogue first.

A redacted setting (Security.encryption_key) never appears as a value: the script reads it from an
environment variable on the host, so the secret lands in neither the script, the shell history nor `ps`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.kinds.settings import catalogue, coerce


class HostSettingError(ValueError):
    """A --set that names no host-only setting, or carries a value the catalogue refuses."""


@dataclass(frozen=True, slots=True)
class HostSetting:
    name: str
    value: object | None  # None: a redacted setting, read from `env_var` on the host
    env_var: str | None = None


def env_var_for(name: str) -> str:
    return "MISP_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def parse_value(text: str) -> object:
    """`true`, `3` or `"x"` as YAML-ish JSON scalars; anything else is text (paths, URLs)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def check(assignment: str) -> HostSetting:
    name, sep, raw = assignment.partition("=")
    spec = catalogue().get(name)
    if spec is None:
        raise unknown_setting(name)
    if not spec.get("cli_only"):
        raise HostSettingError(f"{name} is not a host-only setting: declare it under `settings:` in the "
                               "manifests, where plan and apply manage it")
    if spec.get("redacted"):
        if sep:
            raise HostSettingError(f"{name} is a secret: write `--set {name}` without a value; the script "
                                   f"reads it from ${env_var_for(name)} on the host")
        return HostSetting(name, None, env_var_for(name))
    if not sep:
        raise HostSettingError(f"{name}: expected NAME=VALUE")
    try:
        return HostSetting(name, coerce(parse_value(raw), spec))
    except ValueError as exc:
        raise HostSettingError(f"{name}: {exc}") from None


def unknown_setting(name: str) -> HostSettingError:
    import difflib

    close = difflib.get_close_matches(name, list(catalogue()), n=1)
    return HostSettingError(f"unknown setting {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))


def shell_value(setting: HostSetting) -> str:
    if setting.env_var is not None:
        return f'"${{{setting.env_var}:?export {setting.env_var} first}}"'
    value = setting.value
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return shlex.quote(text)


def script(settings: Sequence[HostSetting], *, os_user: str, misp_dir: str) -> str:
    cake = shlex.quote(f"{misp_dir.rstrip('/')}/app/Console/cake")
    lines = ["#!/bin/sh", "# Host-only MISP settings, rendered by misp-reconcile settings host-script.",
             "# Run on the MISP host as root (or the web server user). MISP runs its side effects on write.",
             "set -eu", ""]
    for setting in settings:
        description = str(catalogue()[setting.name].get("description") or "").splitlines()
        if description:
            lines.append(f"# {description[0][:110]}")
        lines.append(f"sudo -u {shlex.quote(os_user)} {cake} Admin setSetting {shlex.quote(setting.name)} "
                     f"{shell_value(setting)}")
    return "\n".join(lines) + "\n"
