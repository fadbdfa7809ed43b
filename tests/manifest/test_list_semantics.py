"""Every list field of every manifest model declares how it compares: AsSet, KeyedBy or Ordered (STYLE §5.2).

An undeclared list would be diffed by position by accident; this test makes forgetting the marker fail."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from reconciler.kinds import KINDS
from reconciler.manifest.document import Instance, Policy
from reconciler.model.fields import AsSet, KeyedBy, ListSemantics, Ordered


def parts(annotation: Any) -> Iterator[Any]:
    """The alternatives of a union (Optional included), or the annotation itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            yield from parts(arg)
    else:
        yield annotation


def list_fields(model: type[BaseModel], prefix: str = "", seen: set[type] | None = None) -> Iterator[tuple[str, Any]]:
    """(dotted field path, metadata of the list alternative) for every list field, nested models included."""
    seen = set() if seen is None else seen
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        for alternative in parts(info.annotation):
            metadata: list[Any] = list(info.metadata)
            if get_origin(alternative) is Annotated:
                alternative, *extra = get_args(alternative)
                metadata += extra
            if get_origin(alternative) is list:
                yield path, metadata
                alternative = get_args(alternative)[0] if get_args(alternative) else Any
                for inner in parts(alternative):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        yield from list_fields(inner, f"{path}[].", seen)
            elif isinstance(alternative, type) and issubclass(alternative, BaseModel):
                yield from list_fields(alternative, f"{path}.", seen)


MODELS: list[type[BaseModel]] = [kind.model for kind in KINDS] + [Instance, Policy]
LISTS = [(model.__name__, path, metadata) for model in MODELS for path, metadata in list_fields(model)]


def test_the_walk_finds_the_lists_it_must_check() -> None:
    found = {(model, path) for model, path, _ in LISTS}
    assert {("Role", "perms"), ("Organisation", "restricted_to_domain"), ("SharingGroup", "organisations")} <= found


@pytest.mark.parametrize(("model", "path", "metadata"), LISTS, ids=[f"{m}.{p}" for m, p, _ in LISTS])
def test_every_list_field_declares_its_semantics(model: str, path: str, metadata: list[Any]) -> None:
    markers = [m for m in metadata if isinstance(m, AsSet | KeyedBy | Ordered)]
    assert len(markers) == 1, f"{model}.{path}: annotate with exactly one of AsSet(), KeyedBy(field), Ordered()"


def test_keyed_lists_name_a_field_of_their_items() -> None:
    for model in MODELS:
        for name, info in model.model_fields.items():
            keyed = [m for m in info.metadata if isinstance(m, KeyedBy)]
            for marker in keyed:
                item = get_args(next(a for a in parts(info.annotation) if get_origin(a) is list))[0]
                assert marker.field in item.model_fields, f"{model.__name__}.{name}: KeyedBy({marker.field!r})"


def test_the_markers_are_the_three_semantics() -> None:
    assert set(get_args(ListSemantics)) == {AsSet, KeyedBy, Ordered}
