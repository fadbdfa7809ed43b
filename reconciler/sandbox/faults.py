"""Fault injection: latency, error statuses and dropped connections, per path pattern and method.

Off by default. Reliability tests and benchmarks switch it on through `Faults` or `sandbox serve` flags.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field

import httpx


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised inside the app to drop the connection: no response is sent.

    In-process (httpx.ASGITransport re-raises app exceptions) a client sees exactly what a dropped TCP
    connection gives it: an httpx transport error.
    """


@dataclass(slots=True)
class FaultRule:
    path: str = ".*"  # regular expression searched in the request path
    methods: frozenset[str] = frozenset()  # empty: every method
    latency: tuple[float, float] = (0.0, 0.0)  # seconds, uniform between the two bounds
    fail_rate: float = 0.0  # share of matching requests answered with one of `statuses`
    statuses: tuple[int, ...] = (503,)
    drop_rate: float = 0.0  # share of matching requests whose connection is dropped
    drop_after: bool = False  # drop after the handler ran (the write happened, the answer is lost)
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and bool(self._pattern.search(path))


@dataclass(slots=True)
class Decision:
    delay: float = 0.0
    status: int | None = None
    drop_before: bool = False
    drop_after: bool = False


@dataclass(slots=True)
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def decide(self, method: str, path: str) -> Decision:
        decision = Decision()
        for rule in self.rules:
            if not rule.matches(method, path):
                continue
            low, high = rule.latency
            decision.delay += self._random.uniform(low, high) if high > low else low
            if rule.drop_rate and self._random.random() < rule.drop_rate:
                if rule.drop_after:
                    decision.drop_after = True
                else:
                    decision.drop_before = True
            if rule.fail_rate and decision.status is None and self._random.random() < rule.fail_rate:
                decision.status = self._random.choice(rule.statuses)
        return decision

    async def sleep(self, decision: Decision) -> None:
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)


def parse_latency(text: str) -> tuple[float, float]:
    """'20ms' → (0.02, 0.02); '10ms-50ms' → (0.01, 0.05); plain numbers are milliseconds."""
    def seconds(part: str) -> float:
        part = part.strip()
        if part.endswith("ms"):
            return float(part[:-2]) / 1000
        if part.endswith("s"):
            return float(part[:-1])
        return float(part) / 1000
    low, _, high = text.partition("-")
    return (seconds(low), seconds(high) if high else seconds(low))
