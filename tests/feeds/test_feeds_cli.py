"""`feeds catalogue` lists MISP's default feeds; `feeds preview` shows MISP's own preview of a configured feed."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli.main import cli

ROOT = Path(__file__).parents[2]


def test_catalogue_lists_the_84_default_feeds() -> None:
    result = CliRunner().invoke(cli, ["feeds", "catalogue", "--format", "json"])
    feeds = json.loads(result.output)
    assert len(feeds) == 84 and {"name": "CIRCL OSINT Feed", "provider": "CIRCL", "source_format": "misp",
                                 "url": "https://www.circl.lu/doc/misp/feed-osint"} in feeds


def test_preview_shows_misps_preview_and_refuses_an_unknown_name(tmp_path: Path) -> None:
    runner = CliRunner()
    args = [str(ROOT / "examples" / "minimal"), "--state-dir", str(tmp_path)]
    shown = runner.invoke(cli, ["feeds", "preview", "CIRCL OSINT Feed", *args])
    assert shown.exit_code == 0 and "Event" in json.loads(shown.output)[0]
    missing = runner.invoke(cli, ["feeds", "preview", "No Such Feed", *args])
    assert missing.exit_code == 1 and "no feed named" in missing.output
