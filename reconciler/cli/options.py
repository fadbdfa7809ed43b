"""The command-line options several commands share, defined once: each command picks the ones it needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

PATHS = click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
ENV = click.option("--env", "env", default=None, help="Merge overlays/ENV/ on top of the manifests.")
KINDS = click.option("--kind", "kinds", multiple=True, help="Only these kinds (and what they reference).")
STATE_DIR = click.option("--state-dir", type=click.Path(path_type=Path), default=Path("state"), show_default=True,
                         help="Where local state lives (SQLite) when --state-url is not given.")
STATE_URL = click.option("--state-url", default=None, help="SQLAlchemy URL of the state database.")
PARALLELISM = click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64),
                           help="Concurrent requests to each MISP.")
ALLOW_DELETES = click.option("--allow-deletes", type=int, default=None,
                             help="Accept a plan with up to N deletes above policy.max_deletes.")
INSECURE_HTTP = click.option("--insecure-http", is_flag=True, help="Allow http:// to a non-loopback MISP.")
INSECURE_SECRET_FILES = click.option("--allow-insecure-secret-files", is_flag=True,
                                     help="Accept secret files readable by group or others.")


def options(*decorators: Decorator) -> Decorator:
    """Several click options as one decorator, shown in --help in the order given."""
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


# Every command that plans or applies against MISP.
engine_options = options(ENV, KINDS, STATE_DIR, STATE_URL, PARALLELISM, ALLOW_DELETES, INSECURE_HTTP,
                         INSECURE_SECRET_FILES)
# Read-only commands that only need to reach the instance (doctor, logs, schedules status…).
target_options = options(ENV, STATE_DIR, INSECURE_HTTP, INSECURE_SECRET_FILES)
