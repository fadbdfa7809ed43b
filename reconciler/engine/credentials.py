"""Plan-time checks that the credentials an apply creates will reach someone (reconciler/delivery.py).

A user created with `notify: true` while MISP.disable_emailing is on gets a password nobody is told (MISP
replaces it and skips the mail silently); a key for `gpg_to_user` whose user has no PGP key cannot be
encrypted to anyone. Both are errors at plan time, before anything is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.diags import Diagnostics

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient
    from reconciler.engine.live import Live
    from reconciler.manifest.desired import Desired

NOTIFY_HINT = ("enable e-mailing first (settings: {MISP.disable_emailing: false}, `apply --kind settings`), or "
               "hand the credentials over with deliver: {gpg_to_user: <file>}")


async def check_credentials(desired: Desired, live: Live, client: MispClient) -> Diagnostics:
    diags = Diagnostics()
    notified = [(key, located) for key, located in desired.entries.get("users", {}).items()
                if getattr(located.entry, "notify", None) and key not in live.live("users")]
    if notified and await emailing_disabled(client):  # one request, and only when a new user asks for mail
        for key, located in notified:
            diags.error("credentials-undeliverable", "notify: true, but MISP.disable_emailing is on: MISP would "
                        "replace the new user's password and send no mail, so nobody would know it",
                        path=f'users["{key}"].notify', subject=located.field_where.get("notify", located.where),
                        hint=NOTIFY_HINT)
    for key, located in desired.entries.get("auth_keys", {}).items():
        entry: Any = located.entry
        email = entry.user.casefold()
        if entry.deliver is not None and entry.deliver.gpg_to_user is not None and not has_pgp_key(desired, live, email):
            diags.error("credentials-undeliverable", f"deliver.gpg_to_user encrypts the key to its user's PGP key, "
                        f"but {email} has none, in the manifests or in MISP",
                        path=f'auth_keys["{key}"].deliver', subject=located.field_where.get("deliver", located.where),
                        hint="set the user's pgp_key, or deliver to a file: {file: …} or {gpg_file: …, recipient: …}")
    return diags


async def emailing_disabled(client: MispClient) -> bool:
    answer = await client.get("/servers/getSetting/MISP.disable_emailing")
    return isinstance(answer, dict) and answer.get("value") in (True, 1, "1", "true")


def has_pgp_key(desired: Desired, live: Live, email: str) -> bool:
    declared = desired.entries.get("users", {}).get(email)
    if declared is not None and getattr(declared.entry, "pgp_key", None):
        return True
    user = live.live("users").get(email)
    return user is not None and bool(user.fields.get("pgp_key"))
