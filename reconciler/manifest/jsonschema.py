"""schemas/manifest.schema.json, generated from the models so that editors complete and check manifests.

Regenerate with `python -m reconciler.manifest.jsonschema` (a test fails when the file is stale).
"""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, create_model

from reconciler.kinds import KINDS
from reconciler.manifest.document import Instance, Policy

SCHEMA_PATH = Path(__file__).parents[2] / "schemas" / "manifest.schema.json"


def manifest_schema() -> dict[str, Any]:
    fields: dict[str, Any] = {
        "instance": (Instance | None, None),
        "policy": (Policy | None, None),
        "defaults": (dict[str, dict[str, Any]] | None, None),
        "vars": (dict[str, Any] | None, None),
    }
    for kind in KINDS:
        if kind.singleton_map:
            fields[kind.name] = (dict[str, Any] | None, None)
        elif kind.scalar_field:
            fields[kind.name] = (list[str | kind.model] | None, None)  # type: ignore[name-defined]
        else:
            fields[kind.name] = (list[kind.model] | None, None)  # type: ignore[name-defined]
    document = create_model("Manifest", __config__=ConfigDict(extra="forbid"), **fields)
    schema = document.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "misp-reconciler manifest (format v1)"
    schema["description"] = ("One file of a manifest set. Files are merged; a kind may be spread over several "
                             "files. Secrets are references: {env: NAME}, {file: path} or {gpg: path.asc}.")
    return schema


def render() -> str:
    return json.dumps(manifest_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(render())
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")


if __name__ == "__main__":
    main()
