"""A fast YAML reader that still knows where every value was written.

ruamel.yaml's round-trip loader gives positions but is pure Python (~0.5 ms per user entry); PyYAML's
libyaml composer is ten times faster and its nodes carry marks too. This module composes with libyaml and
builds the same CommentedMap/CommentedSeq (with `.lc` positions) the loader expects, resolving scalars by
YAML 1.2 rules itself (libyaml's resolver is YAML 1.1: `yes` would become true).

Anything whose meaning it is not sure of — explicit tags, merge keys, dates, octal/hex/exponent numbers,
duplicate keys, syntax errors — returns None, and the caller reads the file with ruamel.yaml instead, which
also writes the exact error messages. So this is only ever a faster path to the same result.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import ScalarNode as RuamelScalarNode
from ruamel.yaml.resolver import VersionedResolver

# YAML 1.2 resolution as ruamel does it (its own resolver, so both paths agree by construction).
RESOLVER = VersionedResolver(version=(1, 2))
INT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")  # plain decimal ints; ruamel keeps other forms as ScalarInt
# A tag (`!!str`, `!local`) anywhere: ruamel keeps tagged values as such; do not guess.
TAG = re.compile(r"(?:^|[\s\[{,:-])!")
# `%YAML 1.1` makes ruamel resolve by YAML 1.1 (`yes` is true): leave such files to it.
DIRECTIVE = re.compile(r"^%", re.MULTILINE)


class Unsure(Exception):
    """The fast path cannot promise ruamel's result for this file."""


def load(text: str) -> Any:
    """The document as ruamel's round-trip loader would build it; EMPTY for an empty document; None when
    unsure (read it with ruamel then)."""
    if "\t" in text or TAG.search(text) or "<<" in text or DIRECTIVE.search(text):
        return None
    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return EMPTY
    try:
        return build(node, {})
    except Unsure:
        return None


EMPTY = object()


def build(node: yaml.Node, built: dict[int, Any]) -> Any:
    if id(node) in built:  # an alias: the same object, as ruamel shares it
        return built[id(node)]
    if isinstance(node, yaml.ScalarNode):
        return scalar(node)
    if isinstance(node, yaml.SequenceNode):
        seq = CommentedSeq()
        seq._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
        built[id(node)] = seq
        for index, child in enumerate(node.value):
            seq.append(build(child, built))
            seq.lc.add_idx_line_col(index, [child.start_mark.line, child.start_mark.column])
        return seq
    if isinstance(node, yaml.MappingNode):
        return mapping(node, built)
    raise Unsure


def mapping(node: yaml.MappingNode, built: dict[int, Any]) -> CommentedMap:
    result = CommentedMap()
    result._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
    built[id(node)] = result
    for key_node, value_node in node.value:
        key = build(key_node, built)
        if isinstance(key, CommentedMap | CommentedSeq) or key in result:
            raise Unsure  # complex or duplicate key: ruamel reports it
        result[key] = build(value_node, built)
        result.lc.add_kv_line_col(key, [key_node.start_mark.line, key_node.start_mark.column,
                                        value_node.start_mark.line, value_node.start_mark.column])
    return result


def scalar(node: yaml.ScalarNode) -> Any:
    value: str = node.value
    if node.style:  # quoted or block scalars are text (libyaml gives plain ones the style "")
        return value  # ruamel's block scalars are str subclasses with the same text
    tag = str(RESOLVER.resolve(RuamelScalarNode, value, (True, False)))
    if tag == "tag:yaml.org,2002:str":
        return value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() == "true"
    if tag == "tag:yaml.org,2002:int" and INT.match(value):
        return int(value)
    raise Unsure  # dates, floats, octal/hex ints: ruamel builds its own types for them
