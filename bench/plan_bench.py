"""Measure the engine against a large sandbox: prints figures, asserts nothing.

    python bench/plan_bench.py [--orgs 1000] [--users 10000] [--tags 2000] [--latency-ms 20] [--creates 1000]
                               [--repeat 1] [--plan-only]

1. Seeds a sandbox "large" (organisations, users, tags) in bulk, writes manifests declaring all of it, and
   adopts it once (ledger only, no writes to MISP).
2. No-change plan with injected latency: request count and wall time, next to the raw list requests alone
   (--repeat N times each, alternating; the medians are printed).
3. Apply of N creates with --parallelism 8 and 1 (same latency); skipped with --plan-only.
4. Peak RSS of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))

from reconciler.backend.client import MispClient
from reconciler.engine import run
from reconciler.engine.bulk import keep_for_the_run
from reconciler.engine.targets import sandbox_db_url
from reconciler.manifest.load import load
from reconciler.sandbox import DEFAULT_ADMIN_KEY, FaultRule, Faults, create_app
from reconciler.sandbox.http import new_uuid, now_epoch, now_text


def seed(db_url: str, orgs: int, users: int, tags: int) -> None:
    app = create_app(db_url)
    store = app.state.store
    now = now_text()
    with store.transaction():
        store.insert_many("organisations", [{"name": f"Bench Org {i:05d}", "uuid": new_uuid(), "local": 1,
                                             "date_created": now, "date_modified": now, "created_by": 1,
                                             "restricted_to_domain": "[]"} for i in range(orgs)])
        first_org = 2
        store.insert_many("users", [{"email": f"user{i:06d}@bench.example", "org_id": first_org + i % orgs,
                                     "role_id": 3, "nids_sid": 4_000_001 + i, "password": "x", "change_pw": 1,
                                     "date_created": now_epoch(), "date_modified": now_epoch(), "gpgkey": ""}
                                    for i in range(users)])
        store.insert_many("tags", [{"name": f"bench:tag-{i:05d}", "colour": "#112233", "exportable": 1, "org_id": 0,
                                    "user_id": 0, "hide_tag": 0, "local_only": 0, "is_galaxy": 0,
                                    "is_custom_galaxy": 0} for i in range(tags)])


def write_manifests(path: Path, orgs: int, users: int, tags: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    document = {
        "instance": {"name": "bench"},
        "organisations": [{"name": f"Bench Org {i:05d}", "local": True} for i in range(orgs)],
        "users": [{"email": f"user{i:06d}@bench.example", "org": f"Bench Org {i % orgs:05d}", "role": "User"}
                  for i in range(users)],
        "tags": [{"name": f"bench:tag-{i:05d}", "colour": "#112233"} for i in range(tags)],
    }
    (path / "bench.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def with_latency(latency_ms: float) -> None:
    """Every sandbox the engine opens from now on answers after `latency_ms` (targets.py imports create_app
    from reconciler.sandbox when it opens one, so replacing it there is enough)."""
    import reconciler.sandbox as sandbox

    real = sandbox.create_app

    def slow(db_url: str = "sqlite://", **kw: object) -> object:
        faults = Faults([FaultRule(latency=(latency_ms / 1000, latency_ms / 1000))])
        return real(db_url, faults=faults, **kw)  # type: ignore[arg-type]

    sandbox.create_app = slow  # type: ignore[assignment]


async def raw_lists(db_url: str, latency_ms: float) -> tuple[float, int]:
    app = create_app(db_url, faults=Faults([FaultRule(latency=(latency_ms / 1000, latency_ms / 1000))]))
    async with MispClient("http://sandbox", DEFAULT_ADMIN_KEY, transport=httpx.ASGITransport(app=app)) as client:
        started = time.perf_counter()
        await asyncio.gather(client.get("/organisations/index/scope:all"), client.get("/admin/users/index"),
                             client.get("/roles/index"), client.get("/tags/index/exclude_statistics:1"))
        return time.perf_counter() - started, client.stats.requests


def timed_plan(manifests: Path, state: Path) -> tuple[float, bool]:
    desired, _ = load([manifests])
    # Loading is not timed, and neither is what the CLI does right after it (engine/bulk.py): collect once,
    # then freeze the manifests out of the garbage collector's sight for the rest of the run.
    keep_for_the_run()
    started = time.perf_counter()
    planned = asyncio.run(run.plan(desired, run.Options(state_dir=state)))
    return time.perf_counter() - started, planned.plan.is_empty()


def timed_apply(manifests: Path, state: Path, parallelism: int) -> float:
    desired, _ = load([manifests])
    started = time.perf_counter()
    asyncio.run(run.apply(desired, run.Options(state_dir=state, parallelism=parallelism), confirm=lambda _p: True))
    return time.perf_counter() - started


def served_sandbox(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    """A sandbox in its own process on 127.0.0.1, so MISP's work is not done by the benchmark's own CPU."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", str(port),
                                "--latency", f"{latency_ms}ms"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/servers/getVersion", headers={"Authorization": DEFAULT_ADMIN_KEY,
                                                            "Accept": "application/json"}, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url


def timed_served_apply(root: Path, url: str, creates: int, parallelism: int) -> float:
    path = root / f"served{parallelism}"
    path.mkdir()
    (path / "c.yaml").write_text(yaml.safe_dump({
        "instance": {"name": f"served{parallelism}", "url": url, "key": {"env": "BENCH_MISP_KEY"}},
        "organisations": [{"name": f"Served Org {parallelism} {i:05d}"} for i in range(creates)]}))
    os.environ["BENCH_MISP_KEY"] = DEFAULT_ADMIN_KEY
    return timed_apply(path, root / "state", parallelism)


def timed_creates(root: Path, state: Path, creates: int, latency_ms: float) -> None:
    for parallelism in (8, 1):
        path = root / f"c{parallelism}"
        path.mkdir()
        (path / "c.yaml").write_text(yaml.safe_dump({
            "instance": {"name": f"creates{parallelism}"},
            "organisations": [{"name": f"New Org {i:05d}"} for i in range(creates)]}))
        print(f"apply {creates} creates in-process, --parallelism {parallelism}: "
              f"{timed_apply(path, state, parallelism):.2f} s")
    process, url = served_sandbox(latency_ms)
    try:
        for parallelism in (8, 1):
            print(f"apply {creates} creates to a sandbox served on {url} ({latency_ms:.0f} ms latency), "
                  f"--parallelism {parallelism}: {timed_served_apply(root, url, creates, parallelism):.2f} s")
    finally:
        process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="time the no-change plan this many times")
    parser.add_argument("--plan-only", action="store_true", help="skip the applies of creates")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        state = root / "state"
        db_url = sandbox_db_url(state, "bench")
        started = time.perf_counter()
        seed(db_url, args.orgs, args.users, args.tags)
        print(f"seed: {args.orgs} orgs, {args.users} users, {args.tags} tags in {time.perf_counter() - started:.2f} s")
        write_manifests(root / "m", args.orgs, args.users, args.tags)
        print(f"adopt (ledger only): {timed_apply(root / 'm', state, 8):.2f} s")
        with_latency(args.latency_ms)
        raws, plans = [], []
        for _ in range(args.repeat):  # alternating, so that noise on this shared machine hits both alike
            # Each measurement starts with the garbage of what ran before it collected (the adopt, the
            # previous run), not with a full collection due at a moment that depends on the order.
            gc.collect()
            raw, raw_requests = asyncio.run(raw_lists(db_url, args.latency_ms))
            seconds, empty = timed_plan(root / "m", state)  # collects after loading, see there
            raws.append(raw)
            plans.append(seconds)
            print(f"no-change plan with {args.latency_ms:.0f} ms latency: {seconds:.2f} s (empty: {empty}); "
                  f"raw list requests alone ({raw_requests} requests): {raw:.2f} s; ratio {seconds / raw:.2f}x")
        if args.repeat > 1:
            plan_s, raw_s = statistics.median(plans), statistics.median(raws)
            print(f"median of {args.repeat}: no-change plan {plan_s:.2f} s, raw list requests {raw_s:.2f} s; "
                  f"ratio {plan_s / raw_s:.2f}x")
        if not args.plan_only:
            timed_creates(root, state, args.creates, args.latency_ms)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main()
