"""`validate`: check manifests offline — no network, no state."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli.exits import EXIT_ERROR, EXIT_OK
from reconciler.cli.options import ENV, PATHS
from reconciler.cli.output import err_console, print_diagnostics


@click.command()
@PATHS
@ENV
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(paths: tuple[Path, ...], env: str | None, fmt: str) -> None:
    """Check manifests: types, references between declared objects, settings, secrets. Exit 1 on errors."""
    from reconciler.manifest.load import load

    desired, diags = load(list(paths) or [Path(".")], env=env)
    if fmt == "json":
        click.echo(json.dumps({"valid": not diags.has_errors(),
                               "diagnostics": [d.as_json() for d in diags.sorted()]}, indent=2))
    else:
        print_diagnostics(diags)
        if not diags.has_errors():
            count = sum(len(entries) for entries in desired.entries.values())
            err_console.print(f"[green]Valid:[/] {count} objects in {len(desired.files)} files.")
    sys.exit(EXIT_ERROR if diags.has_errors() else EXIT_OK)


commands = [validate]
