"""Drive the engine the way the CLI does, against a sandbox whose database lives in the test's tmp dir."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reconciler.engine import run
from reconciler.engine.run import Applied, Options, Planned
from reconciler.engine.targets import sandbox_db_url
from reconciler.manifest.desired import Desired
from reconciler.manifest.load import load
from reconciler.sandbox import DEFAULT_ADMIN_KEY, create_app
from reconciler.sandbox.store import Store

# Identity objects of every kind the engine's first issue covers, with MISP's usual noise to normalise (an
# e-mail in mixed case, an external org, a disabled user, a tag that is not exportable).
IDENTITY = """
organisations:
  - {name: Alpha CERT, uuid: 11111111-2222-4333-8444-555555555555, local: true, sector: Government}
  - {name: Beta Bank, local: false, nationality: Belgium}
roles:
  - {name: Analyst, permission: publish, perms: [tagger, sighting]}
users:
  - {email: Ana@Alpha.example.org, org: Alpha CERT, role: Analyst, nids_sid: 4100001}
  - {email: bob@beta.example.org, org: Beta Bank, role: User, disabled: true}
tags:
  - {name: "alpha:internal", colour: "#112233", exportable: false}
"""

HEADERS = {"Authorization": DEFAULT_ADMIN_KEY, "Accept": "application/json",
           "Content-Type": "application/json"}


@dataclass
class Workspace:
    """A manifest directory and a state directory (holding the sandbox database) for one test."""

    root: Path

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def write(self, name: str, text: str) -> Path:
        self.manifests.mkdir(parents=True, exist_ok=True)
        path = self.manifests / name
        path.write_text(textwrap.dedent(text))
        return path

    def load(self, env: dict[str, str] | None = None) -> Desired:
        desired, diags = load([self.manifests], environ=env or {})
        assert not diags.has_errors(), "\n".join(d.render() for d in diags)
        return desired

    def options(self, **kw: Any) -> Options:
        return Options(state_dir=self.state_dir, **kw)

    def plan(self, **kw: Any) -> Planned:
        return asyncio.run(run.plan(self.load(), self.options(**kw)))

    def apply(self, **kw: Any) -> Applied:
        return asyncio.run(run.apply(self.load(), self.options(**kw), confirm=lambda _planned: True))

    @contextmanager
    def misp_db(self, instance: str = "sandbox") -> Iterator[Store]:
        """The sandbox's own database, in one transaction: a change made behind MISP's API (or read from it)."""
        store = create_app(sandbox_db_url(self.state_dir, instance)).state.store
        with store.transaction():
            yield store

    @asynccontextmanager
    async def misp(self, instance: str = "sandbox") -> AsyncIterator[httpx.AsyncClient]:
        """Talk to the same sandbox directly, as a person in MISP's UI or API would."""
        app = create_app(sandbox_db_url(self.state_dir, instance))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox",
                                     headers=HEADERS) as client:
            yield client
