"""The published JSON Schema is current and accepts every example, file by file, with a standard validator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from reconciler.manifest.jsonschema import SCHEMA_PATH, render

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/*.yaml")) + sorted((ROOT / "examples").glob("*/overlays/*/*.yaml"))


def test_schema_file_is_current() -> None:
    assert SCHEMA_PATH.read_text() == render(), "run: python -m reconciler.schema_gen"


MANIFESTS = [p for p in EXAMPLES if "ci" not in p.parts and p.name not in ("pre-commit-hooks.yaml", "fleet.yaml")]


@pytest.mark.parametrize("path", MANIFESTS,
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_file_validates_against_the_schema(path: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    document = json.loads(json.dumps(YAML(typ="safe").load(path.read_text()), default=str))
    jsonschema.Draft202012Validator(schema).validate(document)


def test_examples_start_with_the_schema_comment() -> None:
    for path in (ROOT / "examples" / "training").glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../../schemas/manifest.schema.json")


def test_schema_refuses_an_unknown_key() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"organisations": [{"name": "x", "nmae": "typo"}]}, schema)
