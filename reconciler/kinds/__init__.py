"""The kinds of MISP object the tool manages, in dependency order: one line per kind.

A kind referenced by another comes first (organisations before users); apply creates in this order and
deletes in the reverse order.
"""

from __future__ import annotations

from reconciler.kinds import (
    allowedlist,
    auth_keys,
    blocklists,
    feeds,
    organisations,
    regexps,
    roles,
    schedules,
    servers,
    settings,
    sharing_groups,
    tags,
    taxonomies,
    templates,
    users,
)
from reconciler.kinds._kind import Kind

KINDS: tuple[Kind, ...] = (
    organisations.KIND,
    roles.KIND,
    users.KIND,
    auth_keys.KIND,
    tags.KIND,
    taxonomies.KIND,
    servers.KIND,
    sharing_groups.KIND,
    feeds.KIND,
    templates.KIND,
    allowedlist.KIND,
    regexps.KIND,
    blocklists.ORG_BLOCKLIST,
    blocklists.EVENT_BLOCKLIST,
    settings.KIND,
    schedules.KIND,
)

_BY_NAME = {kind.name: kind for kind in KINDS}


def kind_named(name: str) -> Kind:
    return _BY_NAME[name]


def kind_names() -> list[str]:
    return [kind.name for kind in KINDS]
