"""The libyaml fast path builds exactly what ruamel.yaml builds (values, types, positions), or steps aside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.manifest import fastyaml

ROOT = Path(__file__).parents[2]
FILES = sorted([*(ROOT / "examples").rglob("*.yaml"), *(ROOT / "tests" / "manifest" / "cases").rglob("*.yaml")])


def ruamel(text: str) -> Any:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml.load(text)


def same(fast: Any, slow: Any, where: str = "$") -> None:
    """Equal values of the same types, and the same `.lc` positions for every container and member."""
    if isinstance(slow, CommentedMap):
        assert isinstance(fast, CommentedMap), where
        assert list(fast) == list(slow), where
        assert (fast.lc.line, fast.lc.col) == (slow.lc.line, slow.lc.col), where
        for key in slow:
            assert fast.lc.key(key) == slow.lc.key(key), f"{where}.{key} (key)"
            assert fast.lc.value(key) == slow.lc.value(key), f"{where}.{key} (value)"
            same(fast[key], slow[key], f"{where}.{key}")
    elif isinstance(slow, CommentedSeq):
        assert isinstance(fast, CommentedSeq) and len(fast) == len(slow), where
        assert (fast.lc.line, fast.lc.col) == (slow.lc.line, slow.lc.col), where
        for index, item in enumerate(slow):
            assert fast.lc.item(index) == slow.lc.item(index), f"{where}[{index}]"
            same(fast[index], item, f"{where}[{index}]")
    else:
        # bool is an int in Python: compare the base types too, so `1` never passes for `true`
        base = next(t for t in (bool, int, float, str, type(None)) if isinstance(slow, t))
        assert isinstance(fast, base) and fast == slow, f"{where}: {fast!r} != {slow!r}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_fast_path_matches_ruamel_or_steps_aside(path: Path) -> None:
    text = path.read_text()
    fast = fastyaml.load(text)
    if fast is None:
        return  # ruamel reads it: nothing to compare
    try:
        slow = ruamel(text)
    except Exception:  # ruamel refuses it, so the fast path must have stepped aside too
        pytest.fail("the fast path accepted a file ruamel refuses")
    same(CommentedMap() if fast is fastyaml.EMPTY and slow is None else fast,
         CommentedMap() if slow is None else slow)


def test_most_example_files_take_the_fast_path() -> None:
    examples = sorted((ROOT / "examples" / "training").glob("*.yaml"))
    fast = [p.name for p in examples if fastyaml.load(p.read_text()) is not None]
    assert len(fast) >= len(examples) - 2, fast


@pytest.mark.parametrize("text", [
    "a: yes\n",  # YAML 1.1 boolean: libyaml would say true, YAML 1.2 says 'yes' — resolved here as text
    "a: {b: 1, c: [x, 'y', \"z\", ~, true, False, -3, null]}\n",
    "a: |\n  block\n  text\n",
    "list:\n  - &x {k: v}\n  - *x\n",
    "a: {é: ü, b: [Zürich, x]}\nc: \"ö\"\n",  # columns count characters, not bytes
])
def test_scalars_follow_yaml_1_2_like_ruamel(text: str) -> None:
    fast = fastyaml.load(text)
    assert fast is not None and fast is not fastyaml.EMPTY
    same(fast, ruamel(text))


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",  # duplicate key: ruamel's message
    "a: [1\n",  # syntax error: ruamel's message
    "a:\n\t- b\n",  # tab
    "a: !!str 5\n",  # explicit tag
    "base: &b {x: 1}\nother:\n  <<: *b\n",  # merge key
    "a: 2027-06-30\n",  # a date
    "a: 0600\n", "a: 1.5\n", "a: 0x1F\n", "a: .inf\n", "a: 1e3\n", "a: +1\n",
    "--- 1\n--- 2\n",  # several documents
    "%YAML 1.1\n---\na: yes\n",  # a directive changes how ruamel resolves
])
def test_anything_uncertain_is_left_to_ruamel(text: str) -> None:
    assert fastyaml.load(text) is None


def test_an_empty_document_is_empty() -> None:
    assert fastyaml.load("# only a comment\n") is fastyaml.EMPTY
