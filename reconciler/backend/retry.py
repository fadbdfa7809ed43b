"""What may be retried, when, and why."""

from __future__ import annotations

RETRYABLE_STATUS = frozenset({  # reads retry on these; a write is re-read first, it may have happened
    429,  # told to slow down: wait for Retry-After
    502,  # the proxy got no valid answer from PHP-FPM
    503,  # MISP or its proxy is restarting or overloaded
    504,  # the proxy gave up waiting; PHP may still be finishing the request
})

MAX_ATTEMPTS = 4
BASE_DELAY = 0.2  # seconds; doubles each attempt
MAX_DELAY = 5.0


def backoff(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before attempt number `attempt + 1` (attempt counts from 1)."""
    if retry_after:
        try:
            return min(float(retry_after), MAX_DELAY * 4)
        except ValueError:
            pass
    return float(min(BASE_DELAY * (2 ** (attempt - 1)), MAX_DELAY))
