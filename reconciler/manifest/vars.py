"""${VAR} and ${VAR:-default} expansion: from `vars:` first, then the environment.

An undefined variable without a default is an error at the place it was written. Secret fields never expand:
a secret must stay a reference, not become a value pasted in by a variable.
"""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.diags import Diagnostics, SourceRange

PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: Any, variables: Mapping[str, Any], environ: Mapping[str, str],
           where: Callable[[Sequence[str | int]], SourceRange], diags: Diagnostics, *,
           secret_fields: frozenset[str] = frozenset(), path: tuple[str | int, ...] = (), label: str = "") -> Any:
    """`value` with ${VAR} expanded; `label` is the entry's manifest path (users["a@example.org"]) for messages."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not path and key in secret_fields:
                if isinstance(item, str) and PATTERN.search(item):
                    diags.error("secret-variable", "a secret field takes a reference, not ${VAR}",
                                subject=where([key]), path=f"{label}.{key}" if label else str(key),
                                hint="write {env: NAME} so the value is read at apply time only")
                    continue  # left out, so the model does not report the same mistake a second time
                result[key] = item
                continue
            result[key] = expand(item, variables, environ, where, diags, path=(*path, key))
        return result
    if isinstance(value, list):
        return [expand(item, variables, environ, where, diags, path=(*path, i)) for i, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in variables:
            return str(variables[name])
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        diags.error("undefined-variable", f"variable ${{{name}}} is not defined",
                    subject=where(path), hint=f"define it under `vars:`, export {name}, or write ${{{name}:-default}}")
        return match.group(0)

    expanded = PATTERN.sub(substitute, value)
    whole = PATTERN.fullmatch(value)
    if whole and whole.group(1) in variables and not isinstance(variables[whole.group(1)], str):
        return variables[whole.group(1)]  # ${PORT} alone keeps the variable's own type
    return expanded
