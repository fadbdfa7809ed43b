"""`feeds catalogue` (MISP's default free feeds) and `feeds preview NAME` (MISP's own preview, read-only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from reconciler.cli.exits import EXIT_ERROR, EXIT_OK
from reconciler.cli.options import ENV, PATHS, STATE_DIR
from reconciler.cli.output import console, err_console
from reconciler.cli.plan import load_or_exit, run_engine


@click.group()
def feeds() -> None:
    """MISP's catalogue of default feeds, and previews of configured feeds."""


@feeds.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def catalogue(fmt: str) -> None:
    """List the 84 default feeds MISP ships: pick one in a manifest with `feeds: [{default: NAME}]`."""
    from reconciler.kinds.feeds import catalogue as default_feeds

    rows = [item["Feed"] for item in default_feeds().values()]
    if fmt == "json":
        click.echo(json.dumps([{k: f.get(k) for k in ("name", "provider", "source_format", "url")} for f in rows],
                              indent=2))
        return
    table = Table(title=f"MISP default feeds ({len(rows)})")
    for column in ("name", "provider", "format", "url"):
        table.add_column(column)
    for feed in rows:
        table.add_row(escape(feed["name"]), escape(str(feed.get("provider", ""))), feed.get("source_format", ""),
                      escape(feed["url"]))
    console.print(table)


@feeds.command()
@click.argument("name")
@PATHS
@ENV
@STATE_DIR
def preview(name: str, paths: tuple[Path, ...], env: str | None, state_dir: Path) -> None:
    """Show MISP's preview of the configured feed NAME (by name or URL). Reads only."""
    from reconciler.engine import run

    desired = load_or_exit(paths, env)
    answer: Any = run_engine(fetch_preview(desired, run.Options(state_dir=state_dir), name))
    if answer is None:
        err_console.print(f"[red]error:[/] MISP has no feed named {escape(name)!s}")
        sys.exit(EXIT_ERROR)
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
    sys.exit(EXIT_OK)


async def fetch_preview(desired: Any, options: Any, name: str) -> Any:
    from reconciler.engine import run
    from reconciler.kinds._misp import rows, unwrap

    async with run.client_for(desired, options) as client:
        listed = [unwrap(row, "Feed") for row in rows(await client.get("/feeds/index"), "Feed")]
        match = next((f for f in listed if name in (f.get("name"), f.get("url"))), None)
        if match is None:
            return None
        return await client.get(f"/feeds/previewIndex/{match['id']}")


commands = [feeds]
