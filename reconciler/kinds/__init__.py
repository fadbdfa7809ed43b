"""The kinds of MISP object the tool manages, in dependency order: one line per kind.

A kind referenced by another comes first (organisations before users); apply creates in this order and
deletes in the reverse order.
"""

from __future__ import annotations

from reconciler.kinds import organisations, roles, users
from reconciler.kinds._kind import Kind

KINDS: tuple[Kind, ...] = (
    organisations.KIND,
    roles.KIND,
    users.KIND,
)

_BY_NAME = {kind.name: kind for kind in KINDS}


def kind_named(name: str) -> Kind:
    return _BY_NAME[name]


def kind_names() -> list[str]:
    return [kind.name for kind in KINDS]
