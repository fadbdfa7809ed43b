"""Disaster recovery: rebuild a lost MISP's configuration from git onto an empty MISP.

A rebuild is an apply with three guards and a report. Guards: the target holds nothing but MISP's own
objects (anything else means this is not the empty instance you think it is: use apply), the state holds
nothing for the instance (its ledger describes the lost MISP's ids), and organisations and sharing groups
pin their uuid (sync partners know them by uuid; without it they would see strangers). The report says
what git cannot give back — passwords, key values, events — and what to do about each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.engine.export import is_builtin, read_kinds
from reconciler.engine.read import kinds_in_scope
from reconciler.engine.run import Applied, Planned, Refusal, client_for, instance_name, open_state, scope

if TYPE_CHECKING:
    from reconciler.engine.apply import Hook
    from reconciler.engine.run import Options
    from reconciler.manifest.desired import Desired

PINNED_KINDS = ("organisations", "sharing_groups")  # what sync partners recognise by uuid


@dataclass(frozen=True, slots=True)
class Leftover:
    """Something the manifests cannot rebuild, and the admin's next step."""

    what: str
    todo: str


@dataclass(slots=True)
class Rebuilt:
    applied: Applied
    warnings: list[str] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)


async def rebuild(desired: Desired, options: Options, *, confirm: Callable[[Planned], bool],
                  hook: Hook | None = None) -> Rebuilt:
    from reconciler.engine import run

    await check_target(desired, options)
    warnings = unpinned(desired)
    applied = await run.apply(desired, options, confirm=confirm, hook=hook)
    return Rebuilt(applied, warnings, leftovers(desired))


async def check_target(desired: Desired, options: Options) -> None:
    name = instance_name(desired)
    if open_state(desired, options).ledger(name):
        raise Refusal(f"the state already owns objects on {name!r}: they are the lost instance's ids. Keep "
                      "that state for the record (`state export`) and rebuild with a new --state-dir "
                      "(or --state-url).")
    wanted = scope(desired, options, set())
    # A fresh MISP already holds some taxonomies' tags (tlp:*, hidden): telling them apart needs the taxonomies.
    kinds = kinds_in_scope([*wanted, "taxonomies"] if "tags" in wanted else wanted)
    async with client_for(desired, options) as client:
        live, _notes = await read_kinds(client, kinds)
    present = [f"{kind.name}[{key!r}]" for kind in kinds for key, obj in sorted(live.live(kind.name).items())
               if kind.name != "settings" and not is_builtin(kind, obj, live)]
    if present:
        shown = ", ".join(present[:5]) + (f" and {len(present) - 5} more" if len(present) > 5 else "")
        raise Refusal(f"the target MISP is not empty: it holds {shown}. A rebuild expects a fresh MISP; "
                      "to converge an instance in use, run `misp-reconcile plan` and `apply`.")


def unpinned(desired: Desired) -> list[str]:
    return [f"{kind}[{key!r}] has no uuid: it gets a new one, and sync partners will not recognise it "
            "(add `uuid:` from the lost instance's export or a partner's copy)"
            for kind in PINNED_KINDS for key, located in sorted(desired.entries.get(kind, {}).items())
            if not getattr(located.entry, "uuid", None)]


def leftovers(desired: Desired) -> list[Leftover]:
    """What git does not hold, from what the manifests declare."""
    entries = desired.entries
    users = sorted(entries.get("users", {}))
    without_password = [u for u in users if getattr(entries["users"][u].entry, "password", None) is None]
    found: list[Leftover] = []
    if without_password:
        found.append(Leftover(
            f"passwords of {len(without_password)} users ({', '.join(without_password[:5])}"
            f"{', …' if len(without_password) > 5 else ''})",
            "MISP never returns passwords: have each user reset theirs (MISP's 'forgot password', or "
            "Administration → Users → reset and send credentials); `notify: true` on a user sends them at creation"))
    for key, located in sorted(entries.get("auth_keys", {}).items()):
        sink = getattr(located.entry, "deliver", None)
        found.append(Leftover(
            f"auth key {key!r}: a new value was created, the old one is gone",
            f"delivered to {sink.file or sink.gpg_file}: hand it to whoever uses it (a sync partner updates "
            "its server entry)" if sink is not None else
            "no `deliver:` sink, so nobody has the new value: rotate it with a sink (`rotate: N+1`, "
            "`deliver: {file: …}`) and hand it over"))
    keyed = {str(getattr(loc.entry, "user", "")).casefold() for loc in entries.get("auth_keys", {}).values()}
    sync_roles = {"Sync user"} | {k for k, loc in entries.get("roles", {}).items()
                                  if "sync" in (getattr(loc.entry, "perms", None) or [])}
    for email in users:
        if getattr(entries["users"][email].entry, "role", None) in sync_roles and email not in keyed:
            found.append(Leftover(
                f"sync user {email!r} has no declared auth key: the key MISP made with the user went to nobody",
                "declare `auth_keys: [{user: …, comment: …, deliver: {file: …}}]` and apply, then give the "
                "key to the partner that syncs with this account"))
    for key in sorted(entries.get("servers", {})):
        found.append(Leftover(f"sync link {key!r}: its key is the partner's",
                              "set the variable the manifest names to the key the partner gave you; ask them "
                              "if it was only on the lost host"))
    found.append(Leftover(
        "events, attributes, sightings, galaxies and correlations (data, not configuration)",
        "restore them from the last MISP database backup, or pull them again from sync partners and feeds "
        "(`pull_all`, `fetch_feeds`) once the sync links work"))
    found.append(Leftover(
        "this instance's uuid (MISP.uuid) and its state lineage",
        "the new MISP has a new uuid; partners that pinned the old one must update their server entry"))
    return found
