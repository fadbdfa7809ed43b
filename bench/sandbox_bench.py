"""Sandbox benchmark: prints figures, asserts nothing.

    python bench/sandbox_bench.py [--orgs 1000] [--users 10000] [--sharing-groups 500] [--tags 2000]
                                  [--feeds 100] [--servers 50] [--db sqlite:///path]

1. Creating a sandbox (the cost every test pays).
2. Bulk-seeding "large" through `reconciler.sandbox.seeding.seed_large`.
3. One request each listing every user (`/admin/users/index`) and every organisation
   (`/organisations/index/scope:all`), over the in-process ASGI transport, with the answer's size and count.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from reconciler.sandbox import DEFAULT_ADMIN_KEY, SandboxApp, create_app
from reconciler.sandbox.seeding import seed_large

LISTS = (("users", "/admin/users/index"), ("organisations", "/organisations/index/scope:all"),
         ("sharing groups", "/sharing_groups/index"), ("tags", "/tags/index"), ("feeds", "/feeds/index"),
         ("servers", "/servers/index"))


def count(body: Any) -> int:
    if isinstance(body, dict):  # {"Tag": [...]} or {"response": [...]}
        body = next((v for v in body.values() if isinstance(v, list)), [])
    return len(body) if isinstance(body, list) else 0


async def list_all(app: SandboxApp) -> None:
    headers = {"Authorization": DEFAULT_ADMIN_KEY, "Accept": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox",
                                 headers=headers, timeout=300) as client:
        for label, path in LISTS:
            start = time.perf_counter()
            answer = await client.get(path)
            elapsed = time.perf_counter() - start
            size = len(answer.content) / 1e6
            print(f"list {label:<15} {elapsed * 1000:8.0f} ms  status {answer.status_code}  "
                  f"{count(answer.json()) if answer.status_code == 200 else 0:6d} items  {size:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("orgs", 1000), ("users", 10000), ("sharing-groups", 500), ("tags", 2000),
                          ("feeds", 100), ("servers", 50)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--db", default="sqlite://", help="SQLAlchemy URL (default: in-memory SQLite)")
    args = parser.parse_args()

    start = time.perf_counter()
    app = create_app(args.db)
    print(f"create sandbox          {(time.perf_counter() - start) * 1000:8.0f} ms")
    start = time.perf_counter()
    seeded = seed_large(app, orgs=args.orgs, users=args.users, sharing_groups=args.sharing_groups, tags=args.tags,
                        feeds=args.feeds, servers=args.servers)
    total = sum(seeded.counts.values())
    print(f"seed large              {(time.perf_counter() - start) * 1000:8.0f} ms  ({total} objects: "
          + ", ".join(f"{n} {k}" for k, n in seeded.counts.items()) + ")")
    asyncio.run(list_all(app))


if __name__ == "__main__":
    main()
