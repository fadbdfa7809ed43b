"""`misp-reconcile sandbox serve`: the embedded MISP twin on a loopback port."""

from __future__ import annotations

import ipaddress

import click

from reconciler.sandbox import DEFAULT_ADMIN_KEY, FaultRule, Faults, create_app
from reconciler.sandbox.faults import parse_latency


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group()
def sandbox() -> None:
    """The embedded MISP 2.5 admin-API twin."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--db", "db_path", default=None, help="SQLite file (default: in memory).")
@click.option("--admin-key", default=DEFAULT_ADMIN_KEY, show_default=True, help="The site admin's API key.")
@click.option("--latency", default=None, help="Added latency per request: 20ms or 10ms-50ms.")
@click.option("--fail-rate", default=0.0, type=float, help="Share of requests answered 503.")
@click.option("--force-public", is_flag=True, help="Allow a non-loopback host (exposes a test MISP).")
def serve(host: str, port: int, db_path: str | None, admin_key: str, latency: str | None,
          fail_rate: float, force_public: bool) -> None:
    """Serve the sandbox over HTTP on HOST:PORT."""
    import uvicorn

    if not _is_loopback(host) and not force_public:
        raise click.UsageError(f"refusing to serve the sandbox on non-loopback host {host!r}; "
                               "pass --force-public if you really mean it")
    rules = []
    if latency or fail_rate:
        rules.append(FaultRule(latency=parse_latency(latency) if latency else (0.0, 0.0), fail_rate=fail_rate))
    url = f"http://{host}:{port}"
    app = create_app(f"sqlite:///{db_path}" if db_path else "sqlite://", admin_key=admin_key,
                     base_url=url, faults=Faults(rules))
    click.echo(f"MISP sandbox at {url}  (admin key: {admin_key})")
    uvicorn.run(app, host=host, port=port, log_level="warning")


commands = [sandbox]
