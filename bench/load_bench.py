"""How fast manifests load: the training example, and a generated manifest set of 10,000 users.

Run: .venv/bin/python bench/load_bench.py [--users N] [--repeat R]
Prints the best of R runs per case: the whole load, and the parse alone — the libyaml fast path with positions
(reconciler/manifest/fastyaml.py) next to what ruamel.yaml's round-trip loader would take.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML

from reconciler.manifest import fastyaml
from reconciler.manifest.load import load

ROOT = Path(__file__).parents[1]


def generate(root: Path, users: int) -> Path:
    """A manifest set the size of a large national CSIRT community: one file per kind, `users` users."""
    orgs = max(1, users // 20)
    (root / "organisations.yaml").write_text("organisations:\n" + "".join(
        f"  - {{name: Org {i}, uuid: {i:08x}-0000-4000-8000-000000000000, local: {str(i % 2 == 0).lower()}}}\n"
        for i in range(orgs)))
    (root / "users.yaml").write_text("defaults:\n  users: {autoalert: false}\nusers:\n" + "".join(
        f"  - email: user{i}@org{i % orgs}.example.org\n    org: Org {i % orgs}\n    role: User\n"
        f"    nids_sid: {4_000_000 + i}\n" for i in range(users)))
    return root


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def parse_ruamel(root: Path) -> None:
    for path in sorted(root.glob("*.yaml")):
        YAML(typ="rt").load(path.read_text())


def parse_fast(root: Path) -> None:
    for path in sorted(root.glob("*.yaml")):
        assert fastyaml.load(path.read_text()) is not None, f"{path.name} left the fast path"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    training = ROOT / "examples" / "training"
    desired, diags = load([training], environ={})
    assert not diags.has_errors(), [d.render() for d in diags]
    count = sum(len(e) for e in desired.entries.values())
    print(f"examples/training   {count:>6} objects  load {best(args.repeat, lambda: load([training], environ={})):.3f}s")

    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp), args.users)
        desired, diags = load([root], environ={})
        assert not diags.has_errors(), [d.render() for d in list(diags)[:5]]
        count = sum(len(e) for e in desired.entries.values())
        fast = best(args.repeat, lambda: parse_fast(root))
        slow = best(args.repeat, lambda: parse_ruamel(root))
        whole = best(args.repeat, lambda: load([root], environ={}))
        print(f"generated           {count:>6} objects  load {whole:.3f}s  ({whole / count * 1e6:.0f} µs/object; "
              f"parse: libyaml+positions {fast:.3f}s, ruamel would take {slow:.3f}s)")


if __name__ == "__main__":
    main()
