"""Fault injection: latency, error statuses and dropped connections, per path pattern and method.

Off by default. Reliability tests and benchmarks switch it on through `Faults` or `sandbox serve` flags. The app
reads `app.state.faults` on every request, so faults change on a live app by assigning a new `Faults` (or
appending to its `rules`); `app.state.faults = Faults()` switches them off again.

An injected failure answers before the handler runs, so it never touches the database; a drop before the
handler likewise; a drop *after* the handler loses the answer of a request that did happen.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NoReturn

import httpx
from starlette.types import Send


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised inside the app to drop the connection: no response is sent.

    In-process (httpx.ASGITransport re-raises app exceptions) a client sees exactly what a dropped TCP
    connection gives it: an httpx transport error.
    """


async def drop_connection(send: Send, path: str) -> NoReturn:
    """Start an answer that announces a body it never sends, then fail.

    Over a socket, uvicorn closes the connection when the app fails after the response started (before it
    had started, uvicorn would answer a clean 500 instead), so the client reads a truncated answer: a
    transport error. In-process, httpx.ASGITransport re-raises the exception itself.
    """
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json; charset=UTF-8"), (b"content-length", b"64")]})
    raise DroppedConnection(path)


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
    # What was injected so far ("delayed", "failed", "dropped"): lets a test or a benchmark say how many of
    # its requests a fault actually hit, instead of trusting the rates.
    injected: Counter[str] = field(default_factory=Counter)
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
        self.count(decision)
        return decision

    def count(self, decision: Decision) -> None:
        if decision.delay > 0:
            self.injected["delayed"] += 1
        if decision.drop_before or decision.drop_after:
            self.injected["dropped"] += 1
        elif decision.status is not None:
            self.injected["failed"] += 1

    async def sleep(self, decision: Decision) -> None:
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)

    @property
    def active(self) -> bool:
        return bool(self.rules)


def rule_from_options(*, latency: str | None = None, fail_rate: float = 0.0, fail_statuses: Iterable[int] = (),
                      drop_rate: float = 0.0, drop_after: bool = False, path: str = ".*",
                      methods: Iterable[str] = ()) -> FaultRule | None:
    """One rule from command-line style options (`sandbox serve`); None when they ask for no fault at all.

    Rates are shares between 0 and 1; a bad value raises ValueError naming the option.
    """
    for name, rate in (("fail rate", fail_rate), ("drop rate", drop_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {rate}")
    statuses = tuple(fail_statuses) or (503,)
    if any(not 400 <= status <= 599 for status in statuses):
        raise ValueError(f"fail statuses must be HTTP error statuses (400-599), not {statuses}")
    try:
        re.compile(path)
    except re.error as exc:
        raise ValueError(f"fault path {path!r} is not a regular expression: {exc}") from None
    delay = parse_latency(latency) if latency else (0.0, 0.0)
    if delay == (0.0, 0.0) and not fail_rate and not drop_rate:
        return None
    return FaultRule(path=path, methods=frozenset(m.upper() for m in methods), latency=delay, fail_rate=fail_rate,
                     statuses=statuses, drop_rate=drop_rate, drop_after=drop_after)


def parse_latency(text: str) -> tuple[float, float]:
    """'20ms' → (0.02, 0.02); '10ms-50ms' → (0.01, 0.05); '1s'; plain numbers are milliseconds.

    Raises ValueError on anything else (a negative or reversed range included)."""
    def seconds(part: str) -> float:
        part = part.strip()
        try:
            if part.endswith("ms"):
                return float(part[:-2]) / 1000
            if part.endswith("s"):
                return float(part[:-1])
            return float(part) / 1000
        except ValueError:
            raise ValueError(f"latency {text!r} is not like 20ms or 10ms-50ms") from None
    low, dash, high = text.partition("-")
    bounds = (seconds(low), seconds(high) if dash else seconds(low))
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise ValueError(f"latency {text!r} is not a range from low to high")
    return bounds
