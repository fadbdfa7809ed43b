"""Users: identified by e-mail (case-insensitive); org and role by name."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconciler import delivery
from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_int, rows, saved, stated, unwrap
from reconciler.model.secrets import REDACTOR, SecretRef
from reconciler.pgp import normalise_armor

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


class PgpFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    file: str


class PgpKeyserver(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    keyserver: Literal[True]


class Delivery(BaseModel):
    """Where the credentials of a created user go: a file encrypted to the user's own PGP key, holding the
    initial password (generated when the manifest gives none) and the first API key MISP answers with."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    gpg_to_user: Annotated[str, Field(min_length=1)]


# MISP's own e-mail rule (reference §3): permissive local part, a domain of [a-z0-9_.-] with no TLD needed,
# so MISP's default admin@admin.test is valid.
EMAIL_PATTERN = (r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                 r"@[A-Za-z0-9_.-]*[A-Za-z0-9]$")


class User(Entry):
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"password"})
    CREATE_ONLY: ClassVar[frozenset[str]] = frozenset({"password", "notify", "deliver"})

    email: Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=255)]
    org: Annotated[str, Field(min_length=1)]
    role: Annotated[str | None, Field(min_length=1)] = None
    nids_sid: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None
    disabled: bool | None = None
    autoalert: bool | None = None
    contactalert: bool | None = None
    change_pw: bool | None = None
    termsaccepted: bool | None = None
    pgp_key: str | PgpFile | PgpKeyserver | None = None
    password: SecretRef | None = None
    notify: bool | None = None
    deliver: Delivery | None = None

    @model_validator(mode="after")
    def _credentials(self) -> User:
        if self.deliver is not None and self.pgp_key is None:
            raise ValueError("deliver: {gpg_to_user: …} encrypts the credentials to the user's own PGP key: "
                             "set pgp_key")
        if self.notify and self.disabled:
            raise ValueError("notify: true on a disabled user: MISP skips the e-mail but still replaces the "
                             "password, so nobody would know it")
        return self


# -- MISP adapter -----------------------------------------------------------------------------------------
BOOL_FIELDS = ("disabled", "autoalert", "contactalert", "change_pw", "termsaccepted")


class UserAdapter:
    """Users by e-mail (case-insensitive); org and role travel as names and become ids only here.

    MISP answers a user add with the user's first API key in clear (`User.authkey`): it is dropped at once,
    never stored or shown (transcript users--crud-minimal).
    """

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get("/admin/users/index"), "User")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        user = unwrap(raw, "User")
        email = str(user["email"]).casefold()
        fields: dict[str, object] = {
            "email": email,
            "org": names.key_of("organisations", str(user.get("org_id"))),
            "role": names.key_of("roles", str(user.get("role_id"))),
            "nids_sid": as_int(user.get("nids_sid")),
            "pgp_key": normalise_armor(user.get("gpgkey")),
        }
        fields.update({name: as_bool(user.get(name)) for name in BOOL_FIELDS})
        return LiveObject(key=email, id=str(user["id"]), fields=fields, raw=user)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, User)
        want: dict[str, object] = {"email": entry.email.casefold()}
        for name in stated(entry, ("org", "role", "nids_sid", *BOOL_FIELDS)):
            want[name] = getattr(entry, name)
        if "pgp_key" in entry.model_fields_set and isinstance(entry.pgp_key, str):
            want["pgp_key"] = normalise_armor(entry.pgp_key)
        for name in ("password", "notify"):
            if name in entry.model_fields_set:
                value = getattr(entry, name)
                want[name] = value.describe() if isinstance(value, SecretRef) else value
        if entry.deliver is not None:  # shown in the plan of a create; never sent to MISP
            want["deliver"] = f"credentials encrypted to the user's key, to {entry.deliver.gpg_to_user}"
        return want

    def body(self, entry: User, values: Mapping[str, object], names: Names) -> dict[str, object]:
        body: dict[str, object] = {}
        for name, value in values.items():
            if name == "org":
                body["org_id"] = names.id_of("organisations", str(value))
            elif name == "role":
                body["role_id"] = names.id_of("roles", str(value))
            elif name == "pgp_key":
                body["gpgkey"] = value
            elif name == "nids_sid":
                body["nids_sid"] = str(value)
            elif name == "password":
                assert isinstance(entry.password, SecretRef)
                body["password"] = names.secret(entry.password)
            elif name == "deliver":
                continue
            else:
                body[name] = value
        return body

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, User)
        body = self.body(entry, self.desired(entry, names), names)
        if entry.deliver is not None:  # checked before the user exists: credentials nobody gets are lost
            delivery.check_writable(Path(entry.deliver.gpg_to_user))
            body.setdefault("password", delivery.new_password())
        answer = await client.post("/admin/users/add", body)
        first_key = None
        if isinstance(answer, dict) and isinstance(answer.get("User"), dict):
            first_key = answer["User"].pop("authkey", None)  # the user's first key, in clear: never kept
            if first_key:
                REDACTOR.register(str(first_key))
        if entry.deliver is not None:
            deliver_credentials(entry, client.base_url, str(body["password"]), str(first_key or ""))
        return saved(self.parse(answer, names))

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        assert isinstance(entry, User)
        values = {k: v for k, v in changed.items() if k not in entry.CREATE_ONLY}
        answer = await client.post(f"/admin/users/edit/{live.id}", self.body(entry, values, names))
        if isinstance(answer, dict) and isinstance(answer.get("User"), dict):
            answer["User"].pop("authkey", None)
        return saved(self.parse(answer, names))

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/admin/users/delete/{live.id}")


def deliver_credentials(entry: User, misp_url: str, password: str, api_key: str) -> None:
    """The new account's password and first API key, encrypted to the user's own key (resolved to armored
    text before planning, see engine/run.py)."""
    assert entry.deliver is not None and isinstance(entry.pgp_key, str)
    lines = [f"MISP account {entry.email} at {misp_url}", f"Password: {password}"]
    if api_key:
        lines.append(f"API key: {api_key}")
    if entry.change_pw is not False:
        lines.append("MISP asks for a new password at the first login.")
    delivery.to_user_key(Path(entry.deliver.gpg_to_user), entry.pgp_key, "\n".join(lines) + "\n")


KIND = Kind(name="users", model=User, key=lambda e: e.email.casefold(), normalise_key=str.casefold,
            key_fields=("email",),
            refs={"org": "organisations", "role": "roles"}, adapter=UserAdapter())
