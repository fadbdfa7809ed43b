"""What every kind of MISP object provides to the engine.

A kind module (`kinds/users.py`, …) holds, in one place: the manifest model of one entry (pydantic,
`extra="forbid"`), its natural key, the kinds it references, and its adapter — the endpoints and the mapping
between MISP's JSON and the canonical form the diff compares.

Canonical form: a flat `dict[str, object]` of JSON-like values, in manifest words (`org`, not `org_id`;
names, not ids; real booleans and ints). The diff compares canonical desired values with canonical live
values for the fields the manifest states, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient
    from reconciler.model.secrets import SecretRef


class Entry(BaseModel):
    """Base of every manifest entry model: unknown keys are errors (typos must not pass silently)."""

    # strict: YAML 1.2 reads `yes` as text, so no "yes" → true coercion behind the manifest author's back
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)

    # Fields holding secret references; the engine never shows their values.
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()
    # Fields MISP never returns (a sync server's authkey, a redacted setting): the engine compares them
    # with the fingerprint it recorded in the ledger at the last apply, and sends them again when it moved.
    WRITE_ONLY: ClassVar[frozenset[str]] = frozenset()
    # Fields that only matter when the object is created (a user's initial password, `notify`, `deliver`):
    # never compared, never sent on update.
    CREATE_ONLY: ClassVar[frozenset[str]] = frozenset()

    def warnings(self) -> list[str]:
        """Things worth saying about a valid entry (a deprecated setting); shown, never fatal."""
        return []


@dataclass(slots=True)
class LiveObject:
    """One object as read from MISP, already in canonical form."""

    key: str  # natural key, as the kind computes it from the manifest
    id: str  # MISP's id (a string, as MISP sends it)
    fields: dict[str, object]  # canonical values of every field the adapter understands
    uuid: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # MISP's JSON, for quirks only


class Names(Protocol):
    """Resolves references between kinds, in both directions, over the live state as it evolves."""

    def id_of(self, kind: str, key: str) -> str:
        """MISP id of the object `key` of `kind`; raises KeyError when it does not exist (yet)."""
        ...

    def key_of(self, kind: str, misp_id: str) -> str | None:
        """Natural key of the object with MISP id `misp_id`, None when unknown."""
        ...

    def live(self, kind: str) -> Mapping[str, LiveObject]:
        """Every live object of `kind` read so far, by natural key."""
        ...

    def secret(self, ref: SecretRef) -> str:
        """The value behind a secret reference. Only available during apply; never log or return it."""
        ...

    def put(self, kind: str, obj: LiveObject) -> None:
        """Record an object an adapter created on the side (a sync link's remote organisation)."""
        ...


class Adapter(Protocol):
    """The endpoints of one kind and its MISP quirks. Everything MISP-specific stays behind this."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        """Read every object of the kind in ONE list request. `declared` (natural key → entry) is for the
        few kinds where MISP has no list of what we need (a taxonomy's tag selection): they may read
        one object per declared entry, and say so in their docstring."""
        ...

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        """MISP JSON → canonical LiveObject; None for rows the kind does not manage."""
        ...

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        """Manifest entry → canonical values of the fields it states (model_fields_set)."""
        ...

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        ...

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        """Apply `changed` (canonical field → desired value) to `live`."""
        ...

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        ...


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # the manifest key, used unchanged in module, registry, --kind, JSON, state and audit
    model: type[Entry]
    key: Callable[[Any], str]  # entry → natural key
    # field path → referenced kind. `org` is a field holding one natural key (a list field such as templates'
    # `tags` holds several); `organisations[].org` is the `org` field of every item of the list `organisations`
    # (a sharing group's members); `remote_org` may be a mapping whose `name` is the key.
    refs: Mapping[str, str] = field(default_factory=dict)
    adapter: Adapter | None = None  # None: validated and planned only (no MISP endpoint yet)
    singleton_map: bool = False  # `settings:` is a mapping name → value, not a list of entries
    # How a reference written in a manifest becomes this kind's natural key (e-mails compare casefolded).
    normalise_key: Callable[[str], str] = str
    # The raw fields that make the natural key, joined with "/" (overlays merge by it before validation).
    key_fields: tuple[str, ...] = ("name",)
    # Entries may be written as a bare scalar, which fills this field (`allowedlist: [/regex/]`).
    scalar_field: str | None = None
    # Reference values that name something built in, never an object to resolve (`server: local`).
    builtin_refs: frozenset[str] = frozenset()
    # False for what MISP cannot delete (a setting only changes value): never planned for deletion.
    deletable: bool = True
    # True for what MISP has no API for (schedules run from the host's cron): only the embedded sandbox keeps a
    # record of it, so the engine reads and applies the kind there and leaves it out for a real MISP.
    sandbox_only: bool = False

    def key_of(self, entry: Entry) -> str:
        return self.key(entry)
