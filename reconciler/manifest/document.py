"""The top-level keys of a manifest set other than kinds: instance, policy, defaults, vars."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.fields import AsSet
from reconciler.model.secrets import SecretRef


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ClientCert(Strict):
    cert: str
    key: SecretRef


class WebLogin(Strict):
    """A site admin's web credentials, for the pages MISP refuses to API keys (allowedlist, templates)."""

    email: str
    password: SecretRef


class Instance(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "sandbox"
    url: Annotated[str | None, Field(pattern=r"^https?://")] = None
    key: SecretRef | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    client_cert: ClientCert | None = None
    requires: str | None = None
    web_login: WebLogin | None = None
    # Where users' `pgp_key: {keyserver: true}` are fetched by e-mail (HKP/HKPS, or http(s) to one).
    keyserver: Annotated[str | None, Field(pattern=r"^(hkps?|https?)://[^/\s]+")] = None


class SignaturePolicy(Strict):
    keyring: str
    min: Annotated[int, Field(ge=1)] = 1


class IgnoreRule(Strict):
    kind: str
    key: str
    fields: Annotated[list[str], AsSet()] = []
    reason: Annotated[str, Field(min_length=1)]


class Policy(Strict):
    prune: Literal["owned", "none", "authoritative"] = "owned"
    authoritative: Annotated[list[str], AsSet()] = []
    protect: dict[str, list[str]] = {}
    max_deletes: Annotated[int | None, Field(ge=0)] = None
    require_signatures: SignaturePolicy | None = None
    ignore: Annotated[list[IgnoreRule], AsSet()] = []  # rules apply together, in any order


Defaults = dict[str, dict[str, Any]]
