"""`sign`: an approver's detached signature over a manifest set's canonical hash.

`policy.require_signatures` makes plan and apply count these signatures (`<manifest dir>/.signatures/`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from reconciler.cli.exits import EXIT_ERROR, EXIT_OK
from reconciler.cli.options import PATHS
from reconciler.cli.output import err_console, print_diagnostics


@click.command()
@PATHS
@click.option("--key", "keyid", required=True, help="The signing key (fingerprint, key id or e-mail).")
@click.option("--gpg-home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="GnuPG home holding the secret key (default: $GNUPGHOME or ~/.gnupg).")
@click.option("--passphrase-env", default=None, metavar="NAME",
              help="Read the key's passphrase from this environment variable (default: gpg-agent asks).")
@click.option("--env", default=None, help="Merge overlays/ENV/ on top of the manifests, as plan would.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the signature (default: <manifest dir>/.signatures/<KEY>.asc).")
def sign(paths: tuple[Path, ...], keyid: str, gpg_home: Path | None, passphrase_env: str | None,
         env: str | None, output: Path | None) -> None:
    """Sign the manifest set's hash, so that an instance requiring signatures will apply it."""
    from reconciler.manifest.load import load
    from reconciler.signing import SigningError, manifest_payload, sign_detached

    desired, diags = load(list(paths) or [Path(".")], env=env)
    print_diagnostics(diags)
    if diags.has_errors():
        err_console.print("[red]Not signed:[/] fix the errors above first; a signature covers valid manifests.")
        sys.exit(EXIT_ERROR)
    passphrase = None
    if passphrase_env is not None:
        if passphrase_env not in os.environ:
            err_console.print(f"[red]Not signed:[/] passphrase variable {passphrase_env} is not set.")
            sys.exit(EXIT_ERROR)
        passphrase = os.environ[passphrase_env]
    try:
        signature = sign_detached(manifest_payload(desired.manifest_hash), keyid, gpg_home, passphrase=passphrase)
    except SigningError as exc:
        err_console.print(f"[red]Not signed:[/] {exc}")
        sys.exit(EXIT_ERROR)
    target = output or default_output(desired.base_dir, keyid)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(signature)
    err_console.print(f"Signed manifest set sha256:{desired.manifest_hash} with {keyid}: {target}")
    sys.exit(EXIT_OK)


def default_output(base_dir: Path, keyid: str) -> Path:
    from reconciler.signing import SIGNATURES_DIR

    # One file per approver; a key named by e-mail or with spaces still gives one plain file name.
    name = re.sub(r"[^A-Za-z0-9@._-]", "_", keyid).strip(".") or "signature"
    return base_dir / SIGNATURES_DIR / f"{name}.asc"


commands = [sign]
