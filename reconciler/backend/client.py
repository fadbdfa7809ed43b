"""MispClient: one per instance, over httpx.AsyncClient.

Every request carries the API key, JSON Accept/Content-Type, a User-Agent naming the tool and a fresh
X-Request-Id (MISP logs it; our audit records it). Concurrency is bounded by a semaphore. Reads and
idempotent writes are retried with backoff; a non-idempotent write whose answer was lost raises
OutcomeUnknown so the caller re-reads before deciding anything.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler import __version__
from reconciler.backend.errors import MispError, OutcomeUnknown, Refused, Rejected, Unreachable
from reconciler.backend.retry import MAX_ATTEMPTS, RETRYABLE_STATUS, backoff

USER_AGENT = f"misp-reconciler/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16)


@dataclass(slots=True)
class RequestRecord:
    """One request as our audit sees it: never the key, never the body."""

    method: str
    path: str
    status: int | None
    request_id: str
    elapsed: float


@dataclass(slots=True)
class ClientStats:
    requests: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class MispClient:
    def __init__(self, base_url: str, key: str, *, transport: httpx.AsyncBaseTransport | None = None,
                 verify: ssl.SSLContext | str | bool = True, cert: tuple[str, str] | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, concurrency: int = 8,
                 on_request: Callable[[RequestRecord], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._http = httpx.AsyncClient(
            base_url=self.base_url, transport=transport, verify=verify, cert=cert, timeout=timeout,
            limits=LIMITS, follow_redirects=False,
            headers={"Accept": "application/json", "Content-Type": "application/json",
                     "User-Agent": USER_AGENT})
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        self._on_request = on_request
        self.stats = ClientStats()

    def __repr__(self) -> str:  # never the key
        return f"MispClient({self.base_url!r})"

    async def __aenter__(self) -> MispClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the surface the adapters use ---------------------------------------------------------------
    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        return await self.call("GET", path, params=params, idempotent=True)

    async def post(self, path: str, body: Any = None, *, idempotent: bool = False,
                   headers: Mapping[str, str] | None = None) -> Any:
        return await self.call("POST", path, body={} if body is None else body, idempotent=idempotent,
                               headers=headers)

    async def call(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
                   idempotent: bool, headers: Mapping[str, str] | None = None) -> Any:
        response = await self.send(method, path, body=body, params=params, idempotent=idempotent,
                                   headers=headers)
        return parse_json(response)

    async def send(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
                   idempotent: bool, headers: Mapping[str, str] | None = None,
                   files: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
                   ) -> httpx.Response:
        """Send with retries; raise Rejected/Refused for MISP's refusals. Returns the raw response."""
        content = json.dumps(body).encode() if body is not None and files is None and data is None else None
        attempt = 0
        while True:
            attempt += 1
            request_id = str(uuid.uuid4())
            all_headers = {"Authorization": self._key, "X-Request-Id": request_id, **(headers or {})}
            started = asyncio.get_running_loop().time()
            try:
                async with self._semaphore:
                    response = await self._http.request(method, path, content=content, params=params,
                                                        headers=all_headers, files=files, data=data)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached MISP: safe to retry any request.
                self._record(method, path, None, request_id, started)
                if attempt < MAX_ATTEMPTS:
                    await asyncio.sleep(backoff(attempt))
                    continue
                raise Unreachable(f"cannot reach MISP at {self.base_url}: {exc.__class__.__name__}") from None
            except httpx.TransportError as exc:
                # The request may have reached MISP: only idempotent requests are retried.
                self._record(method, path, None, request_id, started)
                if idempotent and attempt < MAX_ATTEMPTS:
                    await asyncio.sleep(backoff(attempt))
                    continue
                if idempotent:
                    raise Unreachable(f"MISP at {self.base_url} did not answer {method} {path}: "
                                      f"{exc.__class__.__name__}") from None
                raise OutcomeUnknown(f"no answer to {method} {path} ({exc.__class__.__name__}); "
                                     "it may or may not have been carried out") from None
            self._record(method, path, response.status_code, request_id, started)
            if response.status_code in RETRYABLE_STATUS:
                if idempotent and attempt < MAX_ATTEMPTS:
                    await asyncio.sleep(backoff(attempt, response.headers.get("retry-after")))
                    continue
                if not idempotent and response.status_code in (502, 504):
                    raise OutcomeUnknown(f"{response.status_code} from a proxy for {method} {path}; "
                                         "MISP may still have carried it out")
            check(method, path, response)
            response.extensions["request_id"] = request_id
            return response

    def _record(self, method: str, path: str, status: int | None, request_id: str, started: float) -> None:
        self.stats.requests += 1
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        if self._on_request is not None:
            elapsed = asyncio.get_running_loop().time() - started
            self._on_request(RequestRecord(method, path, status, request_id, elapsed))


AUTH_FAILED_PREFIX = "Authentication failed"


def check(method: str, path: str, response: httpx.Response) -> None:
    """Turn MISP's refusals into typed errors."""
    status = response.status_code
    if status == 302 and "/users/login" in response.headers.get("location", ""):
        raise Refused(f"MISP redirected {method} {path} to its login page: the API key was not accepted "
                      "for this call (MISP refuses API keys on some pages)")
    if status < 400:
        return
    body = parse_json(response, strict=False)
    message = body.get("message", "") if isinstance(body, dict) else ""
    if status in (401, 403) and str(message).startswith(AUTH_FAILED_PREFIX):
        raise Refused("MISP refused the API key (Authentication failed): check the key reference and that "
                      "the user is enabled")
    raise Rejected(method, path, status, body)


def parse_json(response: httpx.Response, *, strict: bool = True) -> Any:
    """MISP labels HTML and empty bodies application/json; tell the caller what really came back."""
    text = response.text
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        if strict:
            raise MispError(f"MISP answered {response.request.method} {response.request.url.path} "
                            f"with something that is not JSON (status {response.status_code})") from None
        return {"message": text[:200]}
